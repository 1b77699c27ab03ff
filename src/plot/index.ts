/** `plot`: one-line charts that return plain plotly figures and display themselves everywhere. */
export { figure, figureBundle, describe, type Figure, type Trace, type Layout, type Axis } from './figure';
export { line, scatter, bar, histogram, heatmap, image, grid, fn, activations, training, decisionBoundary, gradFlow, type ChartOptions, type FnOptions, type Series, type HistoryLike, type Classifier } from './charts';
export { live, progressBundle, type LiveChart, type LiveOptions } from './live';
export { renderSvg, PALETTE } from './svg';
