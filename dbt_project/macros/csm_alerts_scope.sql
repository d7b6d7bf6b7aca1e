{#- csm_alerts' scope and clock (macros/account_scope.sql, account_scoped_downstream), kept here so the model
    reads as its rules: the expressions that move with the clock, used by the model and by the updates that
    set them on every stored alert each hour. -#}
{% macro csm_alerts_scope() -%}
    {%- set p0_min_arr = var('alert_p0_min_arr', 25000) -%}
    {%- set p0_min_hours = var('alert_p0_min_hours_stalled', 48) -%}
    {%- set fyi_below_arr = var('alert_fyi_below_arr', 6000) -%}
    {%- set fyi_tracks = var('alert_fyi_tracks', ['self_serve']) -%}
    {%- set unrouted_tracks = var('alert_unrouted_tracks', ['self_serve']) -%}
    {%- set lookback_days = var('alert_lookback_days', 7) -%}
    {#- Hourly, only these accounts' alerts are rebuilt (macros/account_scope.sql): those whose journey state or
        steps were rebuilt (the state mart, content, offers and plan follow it), whose events changed, that got a
        trigger or a decision, that were sent something, whose plan task the clock made overdue since, and whose
        lookback alert (kickoff, high-touch signup, recovered) the clock expired, on the stored rows. A send is a
        trigger the Customer.io sync delivered (csm_alerts_sent_rows): its identify calls, failures and held items
        change no alert (after a go-live, the identify of every person put every account in scope). What moves
        with the clock on every alert (hours stalled, severity, priority, risk, route, the rank, as_of) is then
        set on every row from its stored columns, in that order. -#}
    {%- set since = '__scope_since__' -%}
    {%- set hours_stalled = "cast(case when stalled_since is not null then "
        ~ round_double(seconds_between('stalled_since', as_of()) ~ ' / 3600.0', 1) ~ " end as double)" -%}
    {%- set severity_hours -%}
        case
            when kind in ('high_touch_signup', 'recovered', 'kickoff_booked')
                then {{ boundaries_between('hour', 'changed_at', as_of()) }}
            else coalesce(hours_stalled, {{ boundaries_between('hour', 'coalesce(last_activity_at, signup_at)', as_of()) }})
        end
    {%- endset -%}
    {%- set priority -%}
        case
            when kind = 'recovered'
                then case when arr_at_risk >= {{ p0_min_arr }} then 'P1' else 'FYI' end
            when kind = 'kickoff_booked' then '{{ var("alert_kickoff_priority", "P0") }}'
            when kind = 'high_touch_signup'
                then case when arr_at_risk >= {{ p0_min_arr }} then 'P0' else 'P1' end
            when track in {{ sql_list(fyi_tracks) }} or arr_at_risk < {{ fyi_below_arr }} then 'FYI'
            when arr_at_risk >= {{ p0_min_arr }} and severity_hours >= {{ p0_min_hours }} then 'P0'
            else 'P1'
        end
    {%- endset -%}
    {%- set risk_score -%}
        round(
            arr_at_risk
            * (1 + least(greatest(severity_hours, 0), 720) / 168.0)
            * (0.5 + steps_remaining / greatest(coalesce(steps_total, 0), 1)),
            2
        )
    {%- endset -%}
    {%- set route -%}
        case
            when track in {{ sql_list(unrouted_tracks) }} then 'none'
            when priority = 'P0' then 'realtime'
            else 'digest'
        end
    {%- endset -%}
    {%- set scoped = account_scoped_downstream(
        roots=[ref('int_account_journeys_evaluated'), ref('int_account_steps_evaluated')],
        also=[
            "select account_id from " ~ ref('onboarding_triggers') ~ " where emitted_as_of > " ~ since
            ~ " or decided_as_of > " ~ since,
            "select changelog.account_id from " ~ ref('stg_sync_log__sync_changelog') ~ " as changelog left join "
            ~ ref('stg_sync_log__sync_runs') ~ " as runs on changelog.run_id = runs.run_id"
            ~ " and changelog.channel = runs.channel where " ~ csm_alerts_sent_rows('changelog')
            ~ " and coalesce(runs.as_of, changelog.recorded_at) >= " ~ since,
            "select account_id from " ~ ref('onboarding_plan_tasks') ~ " where status = 'overdue' and due_at >= " ~ since,
            "select account_id from " ~ this ~ " where kind in ('kickoff_booked', 'high_touch_signup', 'recovered')"
            ~ " and changed_at <= " ~ as_of() ~ " - " ~ interval_days(lookback_days),
        ],
        clock_columns=[
            {'hours_stalled': hours_stalled, 'as_of': as_of()},
            {'severity_hours': severity_hours},
            {'priority': priority, 'risk_score': risk_score},
            {'route': route},
        ],
        clock_statements=[
            "update " ~ this ~ " as alerts set alert_rank = ranked.alert_rank from (select alert_id, row_number()"
            ~ " over (order by case priority when 'P0' then 0 when 'P1' then 1 else 2 end, risk_score desc,"
            ~ " account_id asc, kind asc) as alert_rank from " ~ this ~ ") as ranked"
            ~ " where alerts.alert_id = ranked.alert_id and alerts.alert_rank is distinct from ranked.alert_rank",
        ],
    ) -%}
    {#- Whether the clock statement above ranks the alerts after this build (an incremental one; a first build, a
        full refresh and Spark rank in the model): the model's query then leaves alert_rank null, since ranking
        the rebuilt rows there too sorted every wide row for nothing (2.5 s of the 10 s query that rebuilds all
        1M accounts' alerts). -#}
    {%- set ranked_after = execute and this is not none and is_incremental() -%}
    {{ return({'scoped': scoped, 'priority': priority, 'risk_score': risk_score, 'ranked_after': ranked_after}) }}
{%- endmacro %}

{#- The Customer.io sync's changelog rows that are triggers it sent (delivered, or written to the local outbox):
    what csm_alerts lists as sent, and so what puts an account in its scope. -#}
{% macro csm_alerts_sent_rows(alias) -%}
    {{ alias }}.channel = 'customerio' and {{ alias }}.operation = 'event' and {{ alias }}.result in ('sent', 'outbox')
    and {{ alias }}.item_id like 'event:%'
{%- endmacro %}
