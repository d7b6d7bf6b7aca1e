{#
  The next batch of product events of an incremental model, each with its account.

  A track carries its account in context.groupId; one without (Segment's server libraries never
  add it) belongs to the account its user joined with a `group` call: the latest membership in
  int_account_memberships at or before the track's timestamp (a user in several accounts: the one
  joined last before the event). No such membership: account_id stays null (the caller drops it;
  int_events_unattributed counts it).

  An attributed groupless track becomes known when both it and its group call are known, so
  `known_at` is the later of the two. A group call that lands after its user's tracks attributes
  them in that cycle (`tracks_late`): they were skipped without an account before. A track
  attributed once keeps its account: a late, back-dated group call into another account does not
  move it (a full refresh would).

  `where` narrows the tracks (a SQL condition on stg_segment__tracks' columns). Defines the CTEs
  up to `attributed`.
#}
{% macro attributed_tracks(where='true') -%}
tracks_new as (
    select * from {{ ref('stg_segment__tracks') }} as tracks
    where ({{ where }})
    {{ incremental_batch_filter() }}
),

memberships as (
    select user_id, account_id, joined_at, first_known_at, first_load_id
    from {{ ref('int_account_memberships') }}
),

{% if is_incremental() -%}
{%- set last_batch = incremental_batch_bounds() %}
{%- set since_last_batch = "(%s > " ~ last_batch.load_id ~ " or %s > " ~ last_batch.as_of ~ ")" %}
memberships_new as (
    select memberships.*
    from memberships
    where {{ since_last_batch | format('memberships.first_load_id', 'memberships.first_known_at') }}
),

{#- Most cycles learn no new membership: then no late track can exist, and the tracks' history is not read.
    Otherwise a late track is at or after its new membership's join, so at or after the earliest new join:
    a constant bound on event_at, which lets the scan of raw skip the row groups of older events (it read
    every row group of the history each hour a membership was new: 0.15-0.26 s per model at 10M messages,
    growing with the history; 0.06-0.08 s with the bound, 15 of 87 row groups, the same rows). #}
{%- set new_memberships = run_query(
    "select count(*), cast(min(joined_at) as " ~ dbt.type_string() ~ ") from " ~ ref('int_account_memberships')
    ~ " where " ~ since_last_batch | format('first_load_id', 'first_known_at')
).rows[0] if execute else [1, none] %}
tracks_late as (
    select tracks.*
    from {{ ref('stg_segment__tracks') }} as tracks
    where tracks.account_id is null
        {%- if new_memberships[0] == 0 %}
        and false
        {%- elif new_memberships[1] is not none %}
        and tracks.event_at >= cast('{{ new_memberships[1] }}' as {{ type_timestamptz() }})
        {%- endif %}
        and ({{ where }})
        and not {{ since_last_batch | format('tracks.load_id', 'tracks.known_at') }}
        and exists (
            select 1 from memberships_new as m
            where m.user_id = tracks.user_id and m.joined_at <= tracks.event_at
        )
        and not exists (
            select 1 from memberships as m
            where m.user_id = tracks.user_id and m.joined_at <= tracks.event_at
                and not {{ since_last_batch | format('m.first_load_id', 'm.first_known_at') }}
        )
),

candidates as (
    select * from tracks_new
    {{ union_all_by_name() }}
    select * from tracks_late
),
{%- else -%}
candidates as (
    select * from tracks_new
),
{%- endif %}

{{ adapter.dispatch('attributed_tracks_joined', 'onboarding')() }}
{%- endmacro %}

{#- The `attributed` CTE: each candidate with its user's latest membership at or before the event. -#}
{% macro default__attributed_tracks_joined() -%}
attributed as (
    select
        candidates.* exclude (account_id, known_at),
        coalesce(candidates.account_id, memberships.account_id) as account_id,
        case
            when candidates.account_id is null then greatest(candidates.known_at, memberships.first_known_at)
            else candidates.known_at
        end as known_at
    from candidates
    asof left join memberships
        on candidates.user_id = memberships.user_id and candidates.event_at >= memberships.joined_at
)
{%- endmacro %}

{#- Spark has no ASOF join (nor `* exclude`): the latest membership by a window over the candidate's
    memberships at or before it; the columns are stg_segment__tracks' own, in the order `* exclude` keeps. -#}
{% macro spark__attributed_tracks_joined() -%}
joined as (
    select
        {%- for column in ['message_id', 'account_id', 'user_id', 'event_name', 'source_event_name', 'properties',
            'event_at', 'known_at', 'load_id'] %}
        candidates.{{ column }},
        {%- endfor %}
        memberships.account_id as membership_account_id,
        memberships.first_known_at as membership_first_known_at,
        row_number() over (
            partition by candidates.message_id order by memberships.joined_at desc
        ) as membership_rank
    from candidates
    left join memberships
        on candidates.user_id = memberships.user_id and candidates.event_at >= memberships.joined_at
),

attributed as (
    select
        {%- for column in ['message_id', 'user_id', 'event_name', 'source_event_name', 'properties', 'event_at', 'load_id'] %}
        {{ column }},
        {%- endfor %}
        coalesce(account_id, membership_account_id) as account_id,
        case
            when account_id is null then greatest(known_at, membership_first_known_at)
            else known_at
        end as known_at
    from joined
    where membership_rank = 1
)
{%- endmacro %}

{#- int_events_unattributed: the messages no membership of their user at or before them attributes. -#}
{% macro default__unattributed_messages() -%}
    select messages.*
    from messages
    asof left join memberships
        on messages.user_id = memberships.user_id and messages.event_at >= memberships.joined_at
    where memberships.account_id is null
{%- endmacro %}

{#- Spark has no ASOF join: no membership at or before the message (memberships always carry an account). -#}
{% macro spark__unattributed_messages() -%}
    select messages.*
    from messages
    where not exists (
        select 1 from memberships
        where messages.user_id = memberships.user_id and messages.event_at >= memberships.joined_at
    )
{%- endmacro %}
