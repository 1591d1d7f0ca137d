/**
 * Charts drawn by Vega-Lite (a maintained grammar of graphics) and rendered to SVG headless, for
 * results people compare side by side: grouped bars with the limit as a rule.
 */
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';

/** Renders a Vega-Lite spec to an SVG string. */
export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' });
  const svg = await view.toSVG();
  view.finalize();
  return svg;
}
