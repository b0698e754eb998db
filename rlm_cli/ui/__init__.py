"""What the user sees: the recursion tree as state (`tree`) and as Rich/plain views (`display`),
the HTML report, the JSON result and atomic output (`output`), and saved runs (`trajectory`)."""
