-- Path distribution over time: the share of each signup week's accounts on each track.
-- Population of a row: the week's signups on the track (accounts), a part of the week's signups
-- (week_accounts); the shares of a week sum to 1. is_partial_week marks a week the warehouse did not
-- observe in full (its first signup week, or the week of as_of): its mix may not be the week's.
-- A drift here (e.g. self_serve growing) means the segmentation or the acquisition mix changed.

with states as (
    select
        track,
        cast(date_trunc('week', signup_at) as date) as signup_week,
        signup_at,
        holdout,
        as_of
    from {{ ref('customer_onboarding_state') }}
),

observed as (
    select
        cast(min(signup_at) as date) as first_signup_day,
        max(as_of) as as_of
    from states
),

weekly as (
    select
        signup_week,
        track,
        count(*) as accounts,
        count(*) filter (where holdout) as holdout_accounts
    from states
    group by signup_week, track
)

select
    weekly.signup_week,
    {{ is_partial_week('weekly.signup_week', 'observed.first_signup_day', 'observed.as_of') }}
        as is_partial_week,
    cast(weekly.track as string) as track,
    cast(weekly.accounts as bigint) as accounts,
    cast(sum(weekly.accounts) over (partition by weekly.signup_week) as bigint) as week_accounts,
    cast(weekly.accounts / sum(weekly.accounts) over (partition by weekly.signup_week) as double) as share,
    cast(weekly.holdout_accounts as bigint) as holdout_accounts,
    observed.as_of
from weekly
cross join observed
order by weekly.signup_week, weekly.track
