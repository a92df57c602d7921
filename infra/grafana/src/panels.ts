// Small builders over @grafana/grafana-foundation-sdk shared by every Switchyard dashboard: the
// datasource and region variables, time-series and stat panels over Prometheus queries, and a grid
// layout so panel positions are computed, not hand-placed.

import {
  GraphThresholdsStyleConfigBuilder,
  GraphThresholdsStyleMode,
  StackingConfigBuilder,
  StackingMode,
} from '@grafana/grafana-foundation-sdk/common';
import {
  DashboardBuilder,
  DashboardCursorSync,
  DatasourceVariableBuilder,
  QueryVariableBuilder,
  RowBuilder,
  ThresholdsConfigBuilder,
  ThresholdsMode,
  VariableRefresh,
  VariableSort,
} from '@grafana/grafana-foundation-sdk/dashboard';
import { DataqueryBuilder } from '@grafana/grafana-foundation-sdk/prometheus';
import { PanelBuilder as StatPanelBuilder } from '@grafana/grafana-foundation-sdk/stat';
import { PanelBuilder as TimeseriesPanelBuilder } from '@grafana/grafana-foundation-sdk/timeseries';

/** Datasource reference every panel and variable uses: the `datasource` variable. */
// biome-ignore lint/suspicious/noTemplateCurlyInString: Grafana's variable syntax, not a JS template
export const DATASOURCE = { type: 'prometheus', uid: '${datasource}' } as const;

/** Label matcher every Switchyard query carries, bound to the `region` variable (multi-value, All = `.*`). */
export const REGION = 'switchyard_region=~"$region"';

/**
 * The `region` variable's values: every region some instance reports readiness for (geodns serves all
 * regions and reports `switchyard_region="global"`, so it is left out).
 */
export const REGION_VARIABLE_QUERY = 'label_values(switchyard_ready{service_name!="geodns"}, switchyard_region)';

/** One PromQL query of a panel, with its legend (`{{label}}` templates). */
export interface PanelQuery {
  /** PromQL; may use `$region` and `$__rate_interval`. */
  expr: string;
  /** Legend format, e.g. `{{switchyard_region}}`. */
  legend: string;
}

/** A panel spec before layout: the kind, width in grid units (of 24) and the built panel. */
export interface PanelSpec {
  /** Grid width (1..24). */
  width: number;
  /** Grid height. */
  height: number;
  /** The builder (position is set by {@link dashboard}). */
  builder: TimeseriesPanelBuilder | StatPanelBuilder;
}

/** Optional settings of {@link timeseries}. */
export interface TimeseriesOptions {
  /** Threshold lines drawn on the graph (value -> colour), e.g. an SLI limit. */
  thresholds?: readonly { value: number; color: string }[];
  /** Grid width. @default 12 */
  width?: number;
  /** Stack the series. @default false */
  stack?: boolean;
}

function targets(queries: readonly PanelQuery[]): DataqueryBuilder[] {
  return queries.map((q, i) =>
    new DataqueryBuilder()
      .expr(q.expr)
      .legendFormat(q.legend)
      .refId(String.fromCharCode(65 + i))
      .datasource(DATASOURCE),
  );
}

function thresholdsOf(steps: readonly { value: number; color: string }[]): ThresholdsConfigBuilder {
  return new ThresholdsConfigBuilder().mode(ThresholdsMode.Absolute).steps([{ value: null, color: 'green' }, ...steps]);
}

/**
 * A time-series panel.
 * @param title panel title.
 * @param unit Grafana unit (`s`, `reqps`, `percentunit`, `short`, `bytes`).
 * @param description what the panel shows and how to read it (shown as the panel's info tooltip).
 * @param queries one or more PromQL queries.
 */
export function timeseries(
  title: string,
  unit: string,
  description: string,
  queries: readonly PanelQuery[],
  options: TimeseriesOptions = {},
): PanelSpec {
  let builder = new TimeseriesPanelBuilder()
    .title(title)
    .description(description)
    .unit(unit)
    .datasource(DATASOURCE)
    .fillOpacity(10)
    .lineWidth(1);
  for (const t of targets(queries)) builder = builder.withTarget(t);
  if (options.thresholds !== undefined) {
    builder = builder
      .thresholds(thresholdsOf(options.thresholds))
      .thresholdsStyle(new GraphThresholdsStyleConfigBuilder().mode(GraphThresholdsStyleMode.Dashed));
  }
  if (options.stack) builder = builder.stacking(new StackingConfigBuilder().mode(StackingMode.Normal));
  return { width: options.width ?? 12, height: 8, builder };
}

/**
 * A single-value stat panel (last value of one query).
 * @param title panel title.
 * @param unit Grafana unit.
 * @param description what the value means.
 * @param query the PromQL query (reduced to one number: aggregate in the query).
 * @param thresholds colour steps (value -> colour) over green.
 */
export function stat(
  title: string,
  unit: string,
  description: string,
  query: PanelQuery,
  thresholds: readonly { value: number; color: string }[] = [],
): PanelSpec {
  let builder = new StatPanelBuilder()
    .title(title)
    .description(description)
    .unit(unit)
    .datasource(DATASOURCE)
    .thresholds(thresholdsOf(thresholds));
  for (const t of targets([query])) builder = builder.withTarget(t);
  return { width: 6, height: 4, builder };
}

/** A row of a dashboard: a title and its panels (laid out left to right, wrapping at 24 units). */
export interface RowSpec {
  title: string;
  panels: readonly PanelSpec[];
}

/** What a dashboard is: its stable UID, title, description and rows. */
export interface DashboardSpec {
  /** Stable UID (links and provisioning rely on it); `switchyard-...`. */
  uid: string;
  title: string;
  description: string;
  rows: readonly RowSpec[];
}

/**
 * Builds a dashboard: `datasource` (any Prometheus) and `region` (multi, All) variables, a 6 h
 * window refreshed every 30 s, rows with panels laid out on the 24-unit grid, stable panel IDs.
 * @returns the dashboard JSON model (as Grafana imports it).
 */
export function dashboard(spec: DashboardSpec): object {
  let builder = new DashboardBuilder(spec.title)
    .uid(spec.uid)
    .description(spec.description)
    .tags(['switchyard'])
    .editable()
    .tooltip(DashboardCursorSync.Crosshair)
    .time({ from: 'now-6h', to: 'now' })
    .refresh('30s')
    .timezone('browser')
    .withVariable(new DatasourceVariableBuilder('datasource').label('Data source').type('prometheus'))
    .withVariable(
      new QueryVariableBuilder('region')
        .label('Region')
        .query(REGION_VARIABLE_QUERY)
        .datasource(DATASOURCE)
        .refresh(VariableRefresh.OnTimeRangeChanged)
        .sort(VariableSort.AlphabeticalAsc)
        .multi(true)
        .includeAll(true)
        .allValue('.*'),
    );
  let id = 1;
  let y = 0;
  for (const row of spec.rows) {
    builder = builder.withRow(new RowBuilder(row.title).id(id++).gridPos({ x: 0, y, w: 24, h: 1 }));
    y += 1;
    let x = 0;
    let rowHeight = 0;
    for (const panel of row.panels) {
      if (x + panel.width > 24) {
        x = 0;
        y += rowHeight;
        rowHeight = 0;
      }
      builder = builder.withPanel(panel.builder.id(id++).gridPos({ x, y, w: panel.width, h: panel.height }));
      x += panel.width;
      rowHeight = Math.max(rowHeight, panel.height);
    }
    y += rowHeight;
  }
  return builder.build();
}
