"""Evidence for an answer: what model code claims (`FINAL(answer, evidence=[...])`, `cite(...)`), checked
by the host against its own copy of the context, and how a run is judged from it.

claims.py parses what the (untrusted) worker sent; verify.py checks each claim and maps it to a
source and a location; children's citations are mapped to their parent's offsets there too.
"""
from .claims import Claim, claims_from
from .verify import Citation, adopt, assess, dedupe, verify

__all__ = ["Citation", "Claim", "adopt", "assess", "claims_from", "dedupe", "verify"]
