{{
    config(
        materialized='incremental',
        unique_key='trigger_id',
        incremental_strategy=engine_incremental_strategy(),
        full_refresh=false,
        on_schema_change='append_new_columns',
    )
}}
-- depends_on: {{ ref('int_account_journeys_evaluated') }}
-- Every trigger the journey ever found due, one row per deterministic trigger id, with the decision
-- the engine took: send it, let it wait, or skip it, and why. The Customer.io sync sends exactly the
-- rows decided 'send' (once: the outbox remembers). Never rebuilt by a full refresh: this is the
-- record of what was decided.
--
-- Current-state sending, per cycle (the clock is as_of):
--   * a nudge (step_due, stalled, recovery, win_back) is sent only if it fits the account's state at
--     the clock (int_onboarding_triggers_due.fits_state) and is the account's first by state_priority:
--     at most one nudge per account per cycle;
--   * pacing: at most `max_nudges_per_person_per_24h` sent nudges per person in any rolling 24 hours;
--   * reasons not to send: holdout (never), superseded (no longer fits: a later state took over),
--     backfilled (found by an adopting cycle, see int_journey_cycles: history, not news), and two that
--     wait: paced (held by the one-per-cycle rule or the cap) and gated (ops.send_gate holds the
--     account). A waiting row is decided again every cycle: it goes out only if it still fits then,
--     so a customer who activated meanwhile never gets it (it becomes superseded).
-- Lifecycle signals (activated, handoff) are not nudges: sent unless gated, or backfilled when an
-- adopting cycle finds them older than the adoption window.
-- Final decisions (send, skip) never change; `decided_as_of` is the clock of the latest decision.

{% set nudge_cap = var('max_nudges_per_person_per_24h') %}
{#- A table written before decisions existed has no decision columns: every row of it was sent at its
    emission and none waits. on_schema_change adds the columns only after this select, so read them
    only where they exist. In a unit test `this` is the fixture's name, not a table: it has the
    current shape. -#}
{% set existing = (adapter.get_columns_in_relation(this) | map(attribute='name') | map('lower') | list)
    if is_incremental() and this is not string else [] %}
{% set has_decisions = is_incremental() and (this is string or 'send_decision' in existing) %}
{% set gap_hours = var('adoption_gap_hours') %}

with cycle as (
    select * from {{ ref('int_journey_cycles') }}
    where as_of = {{ as_of() }}
),

due as (
    select * from {{ ref('int_onboarding_triggers_due') }}
),

gate as (
    select distinct account_id from {{ ref('stg_ops__send_gate') }}
),

history as (
    {% if is_incremental() %}
    -- Rows written before decisions existed were all sent at their emission.
    select
        trigger_id,
        account_id,
        person_id,
        kind,
        emitted_as_of,
        {% if has_decisions -%}
        coalesce(send_decision, 'send') as send_decision,
        coalesce(decided_as_of, emitted_as_of) as decided_as_of
        {%- else -%}
        'send' as send_decision,
        emitted_as_of as decided_as_of
        {%- endif %}
    from {{ this }}
    {% else %}
    select
        cast(null as string) as trigger_id,
        cast(null as string) as account_id,
        cast(null as string) as person_id,
        cast(null as string) as kind,
        cast(null as {{ type_timestamptz() }}) as emitted_as_of,
        cast(null as string) as send_decision,
        cast(null as {{ type_timestamptz() }}) as decided_as_of
    where false
    {% endif %}
),

candidates as (
    -- New triggers, and waiting ones that are still due (re-checked now).
    select
        due.*,
        coalesce(history.emitted_as_of, {{ as_of() }}) as first_emitted_as_of,
        history.trigger_id is not null as was_waiting
    from due
    left join history on due.trigger_id = history.trigger_id
    where history.trigger_id is null or history.send_decision = 'wait'
),

nudges_sent as (
    select * from history
    where
        send_decision = 'send'
        and kind in ('step_due', 'stalled', 'recovery', 'win_back')
        and decided_as_of <= {{ as_of() }}
),

person_recent as (
    -- The rolling 24 hours that end at this clock.
    select
        person_id,
        count(*) as sent_24h
    from nudges_sent
    where decided_as_of > {{ as_of() }} - {{ interval_hours(24) }}
    group by person_id
),

account_sent_now as (
    -- A re-run of the same clock must not send a second nudge to an account.
    select distinct account_id from nudges_sent
    where decided_as_of = {{ as_of() }}
),

flagged as (
    select
        candidates.*,
        cycle.is_adoption,
        cycle.adoption_sends,
        gate.account_id is not null or exists (
            select 1 from gate as gate_all
            where gate_all.account_id = '*'
        ) as is_gated,
        coalesce(person_recent.sent_24h, 0) as person_sent_24h,
        account_sent_now.account_id is not null as account_sent_now
    from candidates
    cross join cycle
    left join gate on candidates.account_id = gate.account_id
    left join person_recent on candidates.person_id = person_recent.person_id
    left join account_sent_now on candidates.account_id = account_sent_now.account_id
),

ranked as (
    -- The account's one current-state nudge this cycle, then one per person within the cap.
    select
        *,
        case when is_nudge and fits_state and not holdout then row_number() over (
            partition by account_id, is_nudge and fits_state and not holdout
            order by state_priority asc, due_at desc, trigger_id asc
        ) end as account_rank
    from flagged
),

person_ranked as (
    select
        *,
        case when account_rank = 1 then row_number() over (
            partition by person_id, account_rank = 1
            order by state_priority asc, due_at desc, account_id asc
        ) end as person_rank
    from ranked
),

decided as (
    select
        *,
        case
            when not is_nudge
                then
                    case
                        when is_adoption and (
                            adoption_sends = 'nothing'
                            or due_at < {{ as_of() }} - {{ interval_hours(gap_hours) }}
                        ) then 'backfilled'
                        when is_gated then 'gated'
                        else 'lifecycle'
                    end
            when holdout then 'holdout'
            when
                not fits_state
                then case when is_adoption and not was_waiting then 'backfilled' else 'superseded' end
            when
                is_adoption and not was_waiting and (adoption_sends = 'nothing' or account_rank > 1)
                then 'backfilled'
            when is_gated then 'gated'
            when
                account_rank = 1 and not account_sent_now and person_sent_24h + person_rank <= {{ nudge_cap }}
                then 'current_state'
            else 'paced'
        end as decision_reason
    from person_ranked
),

{% if has_decisions %}
gone as (
    -- Waiting rows that are no longer due at all (activated, suppressed, unsubscribed meanwhile).
    select
        waited.trigger_id,
        waited.account_id,
        waited.person_id,
        waited.kind,
        waited.event_name,
        waited.track,
        waited.step,
        waited.attempt,
        waited.due_at,
        waited.emitted_as_of,
        waited.payload,
        'skip' as send_decision,
        'superseded' as decision_reason,
        {{ as_of() }} as decided_as_of,
        journeys.lifecycle_stage
    from {{ this }} as waited
    left join {{ ref('int_account_journeys_evaluated') }} as journeys on waited.account_id = journeys.account_id
    where waited.send_decision = 'wait'
        and waited.trigger_id not in (select trigger_id from due)
),
{% endif %}

final as (
    select
        trigger_id,
        account_id,
        person_id,
        kind,
        event_name,
        track,
        step,
        cast(attempt as integer) as attempt,
        due_at,
        first_emitted_as_of as emitted_as_of,
        payload,
        case
            when decision_reason in ('current_state', 'lifecycle') then 'send'
            when decision_reason in ('paced', 'gated') then 'wait'
            else 'skip'
        end as send_decision,
        decision_reason,
        {{ as_of() }} as decided_as_of,
        lifecycle_stage
    from decided
    {% if has_decisions %}
    union all
    select
        trigger_id, account_id, person_id, kind, event_name, track, step, cast(attempt as integer), due_at,
        emitted_as_of, payload, send_decision, decision_reason, decided_as_of, lifecycle_stage
    from gone
    {% elif is_incremental() %}
    union all
    -- Upgrade from a table without decisions: its rows were all sent at emission. Rewritten once here
    -- with their decision, so no row is left with the new columns blank.
    select
        upgraded.trigger_id, upgraded.account_id, upgraded.person_id, upgraded.kind, upgraded.event_name,
        upgraded.track, upgraded.step, cast(upgraded.attempt as integer), upgraded.due_at, upgraded.emitted_as_of,
        upgraded.payload,
        'send' as send_decision,
        case when upgraded.kind in ('activated', 'handoff') then 'lifecycle' else 'current_state' end
            as decision_reason,
        upgraded.emitted_as_of as decided_as_of,
        journeys.lifecycle_stage
    from {{ this }} as upgraded
    left join {{ ref('int_account_journeys_evaluated') }} as journeys on upgraded.account_id = journeys.account_id
    where upgraded.trigger_id not in (select trigger_id from decided)
    {% endif %}
)

select * from final
