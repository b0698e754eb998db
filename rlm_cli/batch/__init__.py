"""`rlm batch`: many questions over many documents, each task an ordinary run of the engine.

tasks.py (the task list: TASKS files, the cross product, ids) · results.py (the results file: lock,
repair, append, resume state) · plan.py (what is left to do) · task_run.py (one task, on any engine) ·
driver.py (the loop: feed, collect, stop, exit status) · local.py (a thread pool) · ray_engine.py (Ray
tasks and the budget actor) · progress.py (what stderr shows).
"""
