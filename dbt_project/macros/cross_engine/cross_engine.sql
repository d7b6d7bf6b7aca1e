{#
  SQL that differs between the engines, one macro per construct (adapter.dispatch): `default__` is the
  DuckDB SQL the project was written in, unchanged; `spark__` is the same result in Spark SQL. Where both
  engines share a form (max_by / min_by, cast, median, count(*) filter (where ...)), the models use it directly.
#}

{#- The type of an instant (DuckDB timestamptz; Spark's timestamp is an instant, read in the session's UTC). -#}
{% macro type_timestamptz() -%}
    {{ return(adapter.dispatch('type_timestamptz', 'onboarding')()) }}
{%- endmacro %}
{% macro default__type_timestamptz() -%}timestamptz{%- endmacro %}
{% macro spark__type_timestamptz() -%}timestamp{%- endmacro %}

{#- The type of a JSON document (DuckDB json; Spark has none: the JSON text, as json_object_of writes it). -#}
{% macro type_json() -%}
    {{ return(adapter.dispatch('type_json', 'onboarding')()) }}
{%- endmacro %}
{% macro default__type_json() -%}json{%- endmacro %}
{% macro spark__type_json() -%}string{%- endmacro %}

{#- An interval of `n` whole days / hours (n an integer expression), to add to or subtract from an instant. -#}
{% macro interval_days(n) -%}
    {{ return(adapter.dispatch('interval_days', 'onboarding')(n)) }}
{%- endmacro %}
{% macro default__interval_days(n) -%}to_days({{ n }}){%- endmacro %}
{% macro spark__interval_days(n) -%}make_dt_interval(cast({{ n }} as int)){%- endmacro %}

{% macro interval_hours(n) -%}
    {{ return(adapter.dispatch('interval_hours', 'onboarding')(n)) }}
{%- endmacro %}
{% macro default__interval_hours(n) -%}to_hours({{ n }}){%- endmacro %}
{% macro spark__interval_hours(n) -%}make_dt_interval(0, cast({{ n }} as int)){%- endmacro %}

{#- Seconds since 1970-01-01 UTC of an instant (a double: DuckDB's epoch(), fractions of a second kept). -#}
{% macro epoch_seconds(instant) -%}
    {{ return(adapter.dispatch('epoch_seconds', 'onboarding')(instant)) }}
{%- endmacro %}
{% macro default__epoch_seconds(instant) -%}epoch({{ instant }}){%- endmacro %}
{% macro spark__epoch_seconds(instant) -%}(unix_micros({{ instant }}) / 1000000.0D){%- endmacro %}

{#-
  A double rounded to `digits` decimals (0 .. 7) as DuckDB rounds one: its exact binary value, half away from
  zero (1.005 is 1.00499999999999989...: 1.0; 2.675 is 2.67499999999999982...: 2.67; 0.125: 0.13). Spark's
  round(double, n) rounds the double's shortest decimal text half up instead (1.01, 2.68), and so does
  round(x * 100, 0) where the product rounds up to a tie (2.675 x 100 is 267.5 in doubles). On Spark: y = x x 10^n
  rounded half up, except at a tie (y exactly k.5), where the product's rounding error (Dekker's exact product:
  x split in two 26-bit halves) says on which side of the tie x x 10^n really is. The same double on both
  engines for every |x| x 10^n below 2^52; for money in doubles: the cents.
-#}
{% macro round_double(value, digits) -%}
    {{ return(adapter.dispatch('round_double', 'onboarding')(value, digits)) }}
{%- endmacro %}
{% macro default__round_double(value, digits) -%}round({{ value }}, {{ digits }}){%- endmacro %}
{% macro spark__round_double(value, digits) -%}
    {%- set scale = (10 ** digits) ~ '.0D' -%}
    element_at(transform(array(cast({{ value }} as double)), x -> element_at(transform(
        array(named_struct('y', x * {{ scale }}, 'hi', 134217729.0D * x - (134217729.0D * x - x))),
        {#- err: x x 10^n minus its double y, exactly (hi x 10^n and lo x 10^n are exact) #}
        p -> (round(p.y, 0) - case
            when abs(p.y) - floor(abs(p.y)) = 0.5
                and sign(p.y) * ((p.hi * {{ scale }} - p.y) + (x - p.hi) * {{ scale }}) < 0
                then sign(p.y)
            else 0
        end) / {{ scale }}
    ), 1)), 1)
{%- endmacro %}

{#- Whole Unix seconds of an instant, rounded half to even (DuckDB's cast of a double to bigint). -#}
{% macro epoch_seconds_bigint(instant) -%}
    {{ return(adapter.dispatch('epoch_seconds_bigint', 'onboarding')(instant)) }}
{%- endmacro %}
{% macro default__epoch_seconds_bigint(instant) -%}cast(epoch({{ instant }}) as bigint){%- endmacro %}
{% macro spark__epoch_seconds_bigint(instant) -%}
    cast(bround(unix_micros({{ instant }}) / 1000000.0, 0) as bigint)
{%- endmacro %}

{#- Seconds (a double) from instant `start` to instant `end`. On Spark the microseconds are divided by a double
    (1000000.0D), as DuckDB's epoch() does: a decimal literal would make the result, and the arithmetic of every
    caller, decimal (exact, so not DuckDB's double: onboarding_roi's figures differed in the last digits). -#}
{% macro seconds_between(start, end) -%}
    {{ return(adapter.dispatch('seconds_between', 'onboarding')(start, end)) }}
{%- endmacro %}
{% macro default__seconds_between(start, end) -%}epoch({{ end }} - {{ start }}){%- endmacro %}
{% macro spark__seconds_between(start, end) -%}
    ((unix_micros({{ end }}) - unix_micros({{ start }})) / 1000000.0D)
{%- endmacro %}

{#- Calendar boundaries ('day' or 'hour', UTC) crossed from `start` to `end` (DuckDB's date_diff). -#}
{% macro boundaries_between(datepart, start, end) -%}
    {{ return(adapter.dispatch('boundaries_between', 'onboarding')(datepart, start, end)) }}
{%- endmacro %}
{% macro default__boundaries_between(datepart, start, end) -%}
    date_diff('{{ datepart }}', {{ start }}, {{ end }})
{%- endmacro %}
{% macro spark__boundaries_between(datepart, start, end) -%}
    {%- if datepart == 'day' -%}
    cast(datediff(cast({{ end }} as date), cast({{ start }} as date)) as bigint)
    {%- elif datepart == 'hour' -%}
    cast((unix_seconds(date_trunc('HOUR', {{ end }})) - unix_seconds(date_trunc('HOUR', {{ start }}))) / 3600 as bigint)
    {%- else -%}
    {{ exceptions.raise_compiler_error('boundaries_between: day or hour, not ' ~ datepart) }}
    {%- endif -%}
{%- endmacro %}

{#- An instant as text, written with a strftime format (the formats the project uses). -#}
{% macro format_instant(instant, format) -%}
    {{ return(adapter.dispatch('format_instant', 'onboarding')(instant, format)) }}
{%- endmacro %}
{% macro default__format_instant(instant, format) -%}strftime({{ instant }}, '{{ format }}'){%- endmacro %}
{% macro spark__format_instant(instant, format) -%}
    {%- set java = {
        '%Y-%m-%d': 'yyyy-MM-dd',
        '%Y-%m-%d %H:%M': 'yyyy-MM-dd HH:mm',
        '%Y-%m-%dT%H:%M:%SZ': "yyyy-MM-dd'T'HH:mm:ss'Z'",
    } -%}
    {%- if format not in java -%}
        {{ exceptions.raise_compiler_error('format_instant: no Spark pattern for ' ~ format) }}
    {%- endif -%}
    date_format({{ instant }}, "{{ java[format] }}")
{%- endmacro %}

{#- A JSON value at a path ('$.a.b') of a JSON column: as JSON (json_value) or as text (json_text). -#}
{% macro json_value(json, path) -%}
    {{ return(adapter.dispatch('json_value', 'onboarding')(json, path)) }}
{%- endmacro %}
{% macro default__json_value(json, path) -%}{{ json }} -> '{{ path }}'{%- endmacro %}
{% macro spark__json_value(json, path) -%}get_json_object({{ json }}, '{{ path }}'){%- endmacro %}

{% macro json_text(json, path) -%}
    {{ return(adapter.dispatch('json_text', 'onboarding')(json, path)) }}
{%- endmacro %}
{% macro default__json_text(json, path) -%}{{ json }} ->> '{{ path }}'{%- endmacro %}
{% macro spark__json_text(json, path) -%}get_json_object({{ json }}, '{{ path }}'){%- endmacro %}

{#- A JSON object from (key, SQL expression) pairs, in order; null values kept as null. -#}
{% macro json_object_of(pairs) -%}
    {{ return(adapter.dispatch('json_object_of', 'onboarding')(pairs)) }}
{%- endmacro %}
{% macro default__json_object_of(pairs) -%}
    json_object({%- for key, value in pairs -%}'{{ key }}', {{ value }}{{ ", " if not loop.last }}{%- endfor -%})
{%- endmacro %}
{% macro spark__json_object_of(pairs) -%}
    to_json(named_struct({%- for key, value in pairs -%}'{{ key }}', {{ value }}{{ ", " if not loop.last }}{%- endfor -%}),
        map('ignoreNullFields', 'false'))
{%- endmacro %}

{#- Every match of a regular expression replaced (DuckDB needs the 'g' option; Spark always replaces all). -#}
{% macro regexp_replace_all(text, pattern, replacement) -%}
    {{ return(adapter.dispatch('regexp_replace_all', 'onboarding')(text, pattern, replacement)) }}
{%- endmacro %}
{% macro default__regexp_replace_all(text, pattern, replacement) -%}
    regexp_replace({{ text }}, '{{ pattern }}', '{{ replacement }}', 'g')
{%- endmacro %}
{% macro spark__regexp_replace_all(text, pattern, replacement) -%}
    regexp_replace({{ text }}, '{{ pattern | replace("\\", "\\\\") }}', '{{ replacement }}')
{%- endmacro %}

{#- The integers start .. stop - 1, one row each (a select-list expression). -#}
{% macro integer_range_rows(start, stop) -%}
    {{ return(adapter.dispatch('integer_range_rows', 'onboarding')(start, stop)) }}
{%- endmacro %}
{% macro default__integer_range_rows(start, stop) -%}unnest(range({{ start }}, {{ stop }})){%- endmacro %}
{% macro spark__integer_range_rows(start, stop) -%}explode(sequence({{ start }}, {{ stop }} - 1)){%- endmacro %}

{#- Continuous (interpolated) quantile of a numeric column. -#}
{% macro quantile_continuous(column, fraction) -%}
    {{ return(adapter.dispatch('quantile_continuous', 'onboarding')(column, fraction)) }}
{%- endmacro %}
{% macro default__quantile_continuous(column, fraction) -%}quantile_cont({{ column }}, {{ fraction }}){%- endmacro %}
{% macro spark__quantile_continuous(column, fraction) -%}percentile({{ column }}, {{ fraction }}){%- endmacro %}

{#- A list aggregate ordered by `order_by`, of the rows that pass `condition` (null when none do). -#}
{% macro ordered_list(value, order_by, condition=none) -%}
    {{ return(adapter.dispatch('ordered_list', 'onboarding')(value, order_by, condition)) }}
{%- endmacro %}
{% macro default__ordered_list(value, order_by, condition=none) -%}
    list({{ value }} order by {{ order_by }})
    {%- if condition is not none %}
        filter (where {{ condition }})
    {%- endif -%}
{%- endmacro %}
{% macro spark__ordered_list(value, order_by, condition=none) -%}
    {%- set keys = order_by.split(',') -%}
    transform(
        array_sort(nullif(
            collect_list(named_struct(
                {%- for key in keys %}'k{{ loop.index }}', {{ key | trim }}, {% endfor -%}
                'v', {{ value }}
            )){% if condition is not none %} filter (where {{ condition }}){% endif %},
            array()
        )),
        entry -> entry.v
    )
{%- endmacro %}

{#-
  A bucket of a text in 0 .. modulus - 1 from its MD5, the same on both engines: DuckDB's md5_number (the
  128-bit digest read little-endian) modulo `modulus`; Spark computes the same number from the hex digest in
  two 64-bit halves (hi x 2^64 + lo).
  `in_double`: DuckDB computes `md5_number(x) % m` for a HUGEINT m (a sum over the roster) in DOUBLE (the
  digest rounded to a double, then fmod), not exactly; Spark then does the same: each half converted to a
  double, hi x 2^64 + lo, fmod. Otherwise (an integer literal m) the remainder is exact, with decimals.
-#}
{% macro md5_bucket(text, modulus, in_double=false) -%}
    {{ return(adapter.dispatch('md5_bucket', 'onboarding')(text, modulus, in_double)) }}
{%- endmacro %}
{% macro default__md5_bucket(text, modulus, in_double=false) -%}md5_number({{ text }}) % {{ modulus }}{%- endmacro %}
{% macro spark__md5_bucket(text, modulus, in_double=false) -%}
    {%- set digest = 'md5(' ~ text ~ ')' -%}
    {%- set ns = namespace(lo=[], hi=[]) -%}
    {%- for i in range(7, -1, -1) -%}{%- do ns.lo.append('substr(' ~ digest ~ ', ' ~ (2 * i + 1) ~ ', 2)') -%}{%- endfor -%}
    {%- for i in range(15, 7, -1) -%}{%- do ns.hi.append('substr(' ~ digest ~ ', ' ~ (2 * i + 1) ~ ', 2)') -%}{%- endfor -%}
    {%- set hi = 'cast(conv(concat(' ~ (ns.hi | join(', ')) ~ '), 16, 10) as decimal(20, 0))' -%}
    {%- set lo = 'cast(conv(concat(' ~ (ns.lo | join(', ')) ~ '), 16, 10) as decimal(20, 0))' -%}
    {%- if in_double -%}
    ((cast({{ lo }} as double) + cast({{ hi }} as double) * 18446744073709551616.0D) % cast({{ modulus }} as double))
    {%- else -%}
    cast(pmod(
        pmod({{ hi }}, {{ modulus }})
        * pmod(cast('18446744073709551616' as decimal(20, 0)), {{ modulus }})
        + pmod({{ lo }}, {{ modulus }}),
        {{ modulus }}
    ) as bigint)
    {%- endif -%}
{%- endmacro %}

{#- Union of two selects whose columns match by name (Spark: by position; the callers select the same model). -#}
{% macro union_all_by_name() -%}
    {{ return(adapter.dispatch('union_all_by_name', 'onboarding')()) }}
{%- endmacro %}
{% macro default__union_all_by_name() -%}union all by name{%- endmacro %}
{% macro spark__union_all_by_name() -%}union all{%- endmacro %}

{#- A from-clause item after `relation`: one row per part of `text_column` split on `separator`, as `alias.column`. -#}
{% macro split_to_rows(text_column, separator, alias, column) -%}
    {{ return(adapter.dispatch('split_to_rows', 'onboarding')(text_column, separator, alias, column)) }}
{%- endmacro %}
{% macro default__split_to_rows(text_column, separator, alias, column) -%}
    , unnest(string_split({{ text_column }}, '{{ separator }}')) as {{ alias }} ({{ column }})
{%- endmacro %}
{% macro spark__split_to_rows(text_column, separator, alias, column) -%}
    lateral view explode(split({{ text_column }}, '{{ separator }}')) {{ alias }} as {{ column }}
{%- endmacro %}

{#- A struct from (name, SQL expression) pairs. -#}
{% macro struct_of(pairs) -%}
    {{ return(adapter.dispatch('struct_of', 'onboarding')(pairs)) }}
{%- endmacro %}
{% macro default__struct_of(pairs) -%}
    struct_pack({%- for key, value in pairs -%}{{ key }} := {{ value }}{{ ", " if not loop.last }}{%- endfor -%})
{%- endmacro %}
{% macro spark__struct_of(pairs) -%}
    named_struct({%- for key, value in pairs -%}'{{ key }}', {{ value }}{{ ", " if not loop.last }}{%- endfor -%})
{%- endmacro %}

{#- JSON text of a struct from (name, SQL expression) pairs, keys in order, nulls kept: the same bytes on both
    engines, DuckDB's to_json text (a hash of it, such as the segmentation cache key, does not depend on the
    engine). Spark's to_json prints doubles its own way (1.2E7 where DuckDB prints 12000000.0), so on Spark each
    double is written by json_double_text and every other value by to_json (strings are escaped alike by both).
    The values are scalars (text, numbers, booleans); decimals are not covered (their text differs). -#}
{% macro json_of_struct(pairs) -%}
    {{ return(adapter.dispatch('json_of_struct', 'onboarding')(pairs)) }}
{%- endmacro %}
{% macro default__json_of_struct(pairs) -%}
    to_json({{ struct_of(pairs) }})
{%- endmacro %}
{% macro spark__json_of_struct(pairs) -%}
    concat('{', concat_ws(','
    {%- for key, value in pairs %},
        if(typeof({{ value }}) = 'double',
            concat('"{{ key }}":', coalesce({{ json_double_text(value) }}, 'null')),
            regexp_extract(to_json(named_struct('{{ key }}', {{ value }}), map('ignoreNullFields', 'false')),
                '(?s)^[{](.*)[}]$', 1))
    {%- endfor %}
    ), '}')
{%- endmacro %}

{#-
  A double as DuckDB's JSON prints it (null stays null): the shortest digits that read back as the same double,
  plain from 1e-6 to below 1e21 with at least one decimal (12000000.0, 0.000015, 599.88), otherwise with an
  exponent (1e21, 1.5e-7); NaN, Infinity, -Infinity. On Spark a whole number below 1e15 is its bigint's digits
  and '.0'; any other double takes the fewest of 1 .. 17 significant digits (format_string %e) that cast back
  to the same double: Java 17's own text (Double.toString) is often not the shortest above 2^53. Checked against
  DuckDB on a million doubles (log-uniform 1e-9 .. 5e17, cents to 1e15, integers and random bit patterns below
  2^59): the same text for every one. Above 2^59 Java's %e digits are not always the closest (56 of 288,004
  values differed, all between 5.8e17 and 8.8e18): no money amount is that large.
-#}
{% macro json_double_text(value) -%}
    {{ return(adapter.dispatch('json_double_text', 'onboarding')(value)) }}
{%- endmacro %}
{% macro default__json_double_text(value) -%}
    cast(to_json({{ value }}) as varchar)
{%- endmacro %}
{% macro spark__json_double_text(value) -%}
    element_at(transform(array(cast({{ value }} as double)), dbl -> case
        when dbl is null then null
        when isnan(dbl) then 'NaN'
        when dbl = double('inf') then 'Infinity'
        when dbl = double('-inf') then '-Infinity'
        when dbl = 0 then cast(dbl as string)
        when abs(dbl) < 1e15 and dbl = floor(dbl) then concat(cast(cast(dbl as bigint) as string), '.0')
        else element_at(transform(
            array(coalesce(
                element_at(filter(
                    transform(sequence(0, 16), p -> format_string(concat('%.', p, 'e'), abs(dbl))),
                    txt -> cast(txt as double) = abs(dbl)
                ), 1),
                format_string('%.16e', abs(dbl))
            )),
            {#- d: the significant digits without trailing zeros, e: the decimal exponent of the first one #}
            sci -> element_at(transform(
                array(named_struct(
                    'd', regexp_replace(replace(substring_index(sci, 'e', 1), '.', ''), '0+$', ''),
                    'e', cast(substring_index(sci, 'e', -1) as int)
                )),
                num -> concat(if(dbl < 0, '-', ''), case
                    when num.e between 0 and 20 and length(num.d) <= num.e + 1
                        then concat(num.d, repeat('0', num.e + 1 - length(num.d)), '.0')
                    when num.e between 0 and 20 then concat(substr(num.d, 1, num.e + 1), '.', substr(num.d, num.e + 2))
                    when num.e between -6 and -1 then concat('0.', repeat('0', -num.e - 1), num.d)
                    else concat(substr(num.d, 1, 1), if(length(num.d) > 1, concat('.', substr(num.d, 2)), ''), 'e', num.e)
                end)
            ), 1)
        ), 1)
    end), 1)
{%- endmacro %}

{#-
  The incremental models' strategy (read by their config at parse time): delete+insert on the unique key, the
  same rows on both engines. DuckDB runs dbt's own; Spark with parquet tables (no row-level delete or merge)
  runs this project's (macros/cross_engine/spark_incremental.sql: the next state staged, then INSERT
  OVERWRITE). Spark whose tables are Delta or Iceberg (var spark_table_format, with +file_format set to
  match): dbt-spark's merge.
-#}
{% macro engine_incremental_strategy() -%}
    {%- if target.type != 'duckdb' and var('spark_table_format', 'parquet') in ('delta', 'iceberg') -%}
        {{ return('merge') }}
    {%- endif -%}
    {{ return('delete+insert') }}
{%- endmacro %}

{#- One row per id columns and unpivoted column (its name in `name`, its value in `value`), nulls dropped. -#}
{% macro unpivot_columns(select_sql, columns, name, value) -%}
    {{ return(adapter.dispatch('unpivot_columns', 'onboarding')(select_sql, columns, name, value)) }}
{%- endmacro %}
{% macro default__unpivot_columns(select_sql, columns, name, value) -%}
    unpivot (
        {{ select_sql }}
    ) on {{ columns | join(', ') }}
    into name {{ name }} value {{ value }}
{%- endmacro %}
{% macro spark__unpivot_columns(select_sql, columns, name, value) -%}
    select * from (
        {{ select_sql }}
    ) unpivot ({{ value }} for {{ name }} in ({{ columns | join(', ') }}))
{%- endmacro %}

{% macro interval_seconds(n) -%}
    {{ return(adapter.dispatch('interval_seconds', 'onboarding')(n)) }}
{%- endmacro %}
{% macro default__interval_seconds(n) -%}to_seconds({{ n }}){%- endmacro %}
{% macro spark__interval_seconds(n) -%}make_dt_interval(0, 0, 0, {{ n }}){%- endmacro %}

{#- The first non-null value of a window (DuckDB: first_value(x ignore nulls); Spark: first_value(x, true)). -#}
{% macro first_value_ignore_nulls(expression) -%}
    {{ return(adapter.dispatch('first_value_ignore_nulls', 'onboarding')(expression)) }}
{%- endmacro %}
{% macro default__first_value_ignore_nulls(expression) -%}first_value({{ expression }} ignore nulls){%- endmacro %}
{% macro spark__first_value_ignore_nulls(expression) -%}first_value({{ expression }}, true){%- endmacro %}

{#- An empty list of text (DuckDB [], Spark an empty array of string). -#}
{% macro empty_text_list() -%}
    {{ return(adapter.dispatch('empty_text_list', 'onboarding')()) }}
{%- endmacro %}
{% macro default__empty_text_list() -%}[]{%- endmacro %}
{% macro spark__empty_text_list() -%}cast(array() as array<string>){%- endmacro %}
