-- time_to_first_value: activated <= accounts, activated_within_14d <= eligible_14d_accounts <= accounts, the
-- 14-day rate is their quotient, every rate is a share, the percentiles are in order, the tracks add up to
-- 'all', and the 14-day counts are activation_by_path's summed over weeks. Returns one row per broken rule.

-- Dagster shows this check on the mart it checks, whatever else it reads.
{{ config(meta={'dagster': {'ref': {'name': 'time_to_first_value'}}}) }}

with ttv as (
    select * from {{ ref('time_to_first_value') }}
),

tracks as (
    select
        sum(accounts) as accounts,
        sum(activated) as activated,
        sum(eligible_14d_accounts) as eligible_14d_accounts,
        sum(activated_within_14d) as activated_within_14d
    from ttv
    where track <> 'all'
),

by_path as (
    select
        track,
        sum(eligible_accounts) as eligible_accounts,
        sum(activated_within_14d) as activated_within_14d
    from {{ ref('activation_by_path') }}
    group by track
)

select
    track,
    'a count exceeds its population' as broken
from ttv
where
    activated > accounts or eligible_14d_accounts > accounts or activated_within_14d > eligible_14d_accounts
    or activated_within_14d > activated
union all
select
    track,
    'activated_within_14d_rate is not activated_within_14d / eligible_14d_accounts' as broken
from ttv
where
    (eligible_14d_accounts = 0 and activated_within_14d_rate is not null)
    or (
        eligible_14d_accounts > 0
        and abs(activated_within_14d_rate - activated_within_14d / eligible_14d_accounts) > 1e-9
    )
union all
select
    track,
    'a rate outside [0, 1]' as broken
from ttv
where
    greatest(
        activated_within_1h_rate, activated_within_24h_rate, activated_within_7d_rate,
        activated_within_14d_rate
    ) > 1
    or least(
        activated_within_1h_rate, activated_within_24h_rate, activated_within_7d_rate,
        activated_within_14d_rate
    ) < 0
union all
select
    track,
    'percentiles out of order' as broken
from ttv
where
    not (
        p25_hours_to_activation <= median_hours_to_activation
        and median_hours_to_activation <= p75_hours_to_activation
        and p75_hours_to_activation <= p90_hours_to_activation
    )
union all
select
    'all' as track,
    'the tracks do not add up to all' as broken
from ttv, tracks
where
    ttv.track = 'all' and (
        ttv.accounts <> tracks.accounts or ttv.activated <> tracks.activated
        or ttv.eligible_14d_accounts <> tracks.eligible_14d_accounts
        or ttv.activated_within_14d <> tracks.activated_within_14d
    )
union all
select
    ttv.track,
    'the 14-day counts differ from activation_by_path' as broken
from ttv
inner join by_path on ttv.track = by_path.track
where
    ttv.eligible_14d_accounts <> by_path.eligible_accounts
    or ttv.activated_within_14d <> by_path.activated_within_14d
