-- Path distribution over time: the share of each signup week's accounts on each track.
-- A drift here (e.g. self_serve growing) means the segmentation or the acquisition mix changed.

with states as (
    select
        track,
        cast(date_trunc('week', signup_at) as date) as signup_week,
        holdout,
        as_of
    from {{ ref('customer_onboarding_state') }}
),

weekly as (
    select
        signup_week,
        track,
        count(*) as accounts,
        count(*) filter (where holdout) as holdout_accounts,
        max(as_of) as as_of
    from states
    group by signup_week, track
)

select
    signup_week,
    cast(track as varchar) as track,
    cast(accounts as bigint) as accounts,
    cast(sum(accounts) over (partition by signup_week) as bigint) as week_accounts,
    cast(accounts / sum(accounts) over (partition by signup_week) as double) as share,
    cast(holdout_accounts as bigint) as holdout_accounts,
    as_of
from weekly
