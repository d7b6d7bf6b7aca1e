"""The marts the activation report reads, in the order of its sections.

Apart from render.py so that the report's asset declares its inputs without importing pandas and the
charts: the code location (and every hourly cycle) loads the asset, only the daily report renders it.
"""

MARTS = (
    "activation_by_path",
    "path_distribution",
    "holdout_lift",
    "stall_by_step",
    "time_to_first_value",
    "recovery_outcomes",
    "win_back_outcomes",
    "csm_workload_daily",
    "onboarding_roi",
)
