-- The track of every account, the one the journey reads: the AI segmentation's decision for the
-- account's current input (same input hash) when there is one, otherwise the rules. A decision for an
-- older input (before an upgrade) no longer counts: the rules decide until the asset re-asks.
-- The guardrails are applied again here, so no row can break them whatever was written to ops.
with scored as (
    select * from {{ ref('int_accounts_scored') }}
),

decisions as (
    select *
    from {{ ref('stg_ops__account_segmentation') }}
    where decided_at <= {{ as_of() }}
    qualify row_number() over (partition by account_id, input_hash order by decided_at desc) = 1
),

combined as (
    select
        scored.account_id,
        scored.rules_track,
        scored.self_serve_forbidden,
        scored.high_touch_allowed,
        scored.icp_score,
        greatest(scored.signup_at, coalesce(scored.last_plan_change_at, scored.signup_at))
            as input_changed_at,
        coalesce(decisions.track, scored.rules_track) as proposed_track,
        coalesce(decisions.track_source, 'rules') as track_source,
        case
            when decisions.account_id is null then null
            else decisions.confidence
        end as track_confidence,
        coalesce(decisions.reason, scored.rules_reason) as decided_reason,
        decisions.decided_at
    from scored
    left join decisions
        on
            scored.account_id = decisions.account_id
            and scored.segmentation_input_hash = decisions.input_hash
),

guarded as (
    select
        *,
        case
            when proposed_track = 'high_touch' and not high_touch_allowed then 'standard'
            when proposed_track = 'self_serve' and self_serve_forbidden then 'standard'
            else proposed_track
        end as track
    from combined
)

select
    account_id,
    track,
    track_source,
    track_confidence,
    case
        when
            track <> proposed_track
            then 'guardrail: ' || proposed_track || ' not allowed; ' || decided_reason
        else decided_reason
    end as track_reason,
    icp_score,
    rules_track,
    -- When the rules decide, they decided when the input last changed (signup or plan change).
    coalesce(decided_at, input_changed_at) as track_decided_at
from guarded
