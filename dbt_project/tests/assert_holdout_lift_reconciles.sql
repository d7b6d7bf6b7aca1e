-- holdout_lift: per arm, activated <= accounts and the rate is their quotient inside its interval; the lift
-- is the difference of the rates inside its interval; is_significant is lift_ci_low > 0; 'all' pools the
-- tracks (its counts are their sums). Returns one row per broken rule.

-- Dagster shows this check on the mart it checks, whatever else it reads.
{{ config(meta={'dagster': {'ref': {'name': 'holdout_lift'}}}) }}

with lift as (
    select * from {{ ref('holdout_lift') }}
),

tracks as (
    select
        sum(treated_accounts) as treated_accounts,
        sum(treated_activated) as treated_activated,
        sum(holdout_accounts) as holdout_accounts,
        sum(holdout_activated) as holdout_activated
    from lift
    where track <> 'all'
)

select
    track,
    'activated > accounts in an arm' as broken
from lift
where treated_activated > treated_accounts or holdout_activated > holdout_accounts
union all
select
    track,
    'a rate is not activated / accounts' as broken
from lift
where
    abs(treated_rate - treated_activated / treated_accounts) > 1e-9
    or abs(holdout_rate - holdout_activated / holdout_accounts) > 1e-9
union all
select
    track,
    'a rate outside its interval' as broken
from lift
where
    treated_rate < treated_ci_low - 1e-12 or treated_rate > treated_ci_high + 1e-12
    or holdout_rate < holdout_ci_low - 1e-12 or holdout_rate > holdout_ci_high + 1e-12
union all
select
    track,
    'the lift is not treated_rate - holdout_rate inside its interval' as broken
from lift
where abs(lift - (treated_rate - holdout_rate)) > 1e-9 or lift < lift_ci_low or lift > lift_ci_high
union all
select
    track,
    'is_significant is not lift_ci_low > 0' as broken
from lift
where is_significant <> coalesce(lift_ci_low > 0, false)
union all
select
    'all' as track,
    'the tracks do not add up to all' as broken
from lift, tracks
where lift.track = 'all' and (
    lift.treated_accounts <> tracks.treated_accounts
    or lift.treated_activated <> tracks.treated_activated or lift.holdout_accounts <> tracks.holdout_accounts
    or lift.holdout_activated <> tracks.holdout_activated
)
