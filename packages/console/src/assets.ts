import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The page's own files, next to this package's src/. */
const STATIC_DIR = fileURLToPath(new URL('../static/', import.meta.url));
/** uPlot's dist/, resolved from node_modules: nothing comes from a CDN. */
const UPLOT_DIR = path.dirname(createRequire(import.meta.url).resolve('uplot'));

const ASSETS: Readonly<Record<string, { readonly path: string; readonly type: string }>> = {
  '/': { path: path.join(STATIC_DIR, 'index.html'), type: 'text/html; charset=utf-8' },
  '/app.js': { path: path.join(STATIC_DIR, 'app.js'), type: 'text/javascript; charset=utf-8' },
  '/charts.js': { path: path.join(STATIC_DIR, 'charts.js'), type: 'text/javascript; charset=utf-8' },
  '/app.css': { path: path.join(STATIC_DIR, 'app.css'), type: 'text/css; charset=utf-8' },
  '/vendor/uPlot.iife.min.js': { path: path.join(UPLOT_DIR, 'uPlot.iife.min.js'), type: 'text/javascript; charset=utf-8' },
  '/vendor/uPlot.min.css': { path: path.join(UPLOT_DIR, 'uPlot.min.css'), type: 'text/css; charset=utf-8' },
};

/** The file behind a GET path, or undefined: only these files are served, never a path from the URL. */
export function staticAsset(pathname: string): { readonly path: string; readonly type: string } | undefined {
  return ASSETS[pathname];
}
