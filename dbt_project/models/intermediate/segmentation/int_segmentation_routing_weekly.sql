-- The routing report: the share of new accounts per track and signup week, flagged when it leaves the
-- expected band (var segmentation_expected_share; standard 60-70 %). Path imbalance is fixed at the
-- segmentation step (thresholds, prompt), not in the paths, so this is where it shows first.
{%- set bands = var('segmentation_expected_share') %}

with segmented as (
    select * from {{ ref('int_accounts_segmented') }}
),

accounts as (
    select
        segmented.account_id,
        segmented.track,
        segmented.track_source,
        cast(date_trunc('week', scored.signup_at) as date) as signup_week
    from segmented
    inner join {{ ref('int_accounts_scored') }} as scored on segmented.account_id = scored.account_id
),

tracks as (
    {%- for track, band in bands.items() %}
    select
        '{{ track }}' as track,
        cast({{ band[0] }} as double) as expected_min_share,
        cast({{ band[1] }} as double) as expected_max_share
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}
),

weeks as (
    select
        signup_week,
        count(*) as week_accounts
    from accounts
    group by signup_week
),

counted as (
    select
        weeks.signup_week,
        tracks.track,
        weeks.week_accounts,
        count(accounts.account_id) as accounts,
        count(case when accounts.track_source = 'llm' then 1 end) as decided_by_llm,
        count(case when accounts.track_source = 'rules' then 1 end) as decided_by_rules,
        count(case when accounts.track_source = 'fallback' then 1 end) as decided_by_fallback,
        tracks.expected_min_share,
        tracks.expected_max_share
    from weeks
    cross join tracks
    left join accounts
        on
            weeks.signup_week = accounts.signup_week
            and tracks.track = accounts.track
    group by all
)

select
    signup_week,
    track,
    accounts,
    week_accounts,
    round(accounts / week_accounts, 4) as share,
    expected_min_share,
    expected_max_share,
    -- A week with few signups says little: flagged only from segmentation_routing_min_accounts on.
    week_accounts >= {{ var('segmentation_routing_min_accounts', 20) }}
    and accounts / week_accounts not between expected_min_share and expected_max_share as outside_band,
    decided_by_llm,
    decided_by_rules,
    decided_by_fallback,
    {{ as_of() }} as as_of
from counted
order by signup_week, track
