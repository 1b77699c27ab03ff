/**
 * `plot.live`: a training chart that updates in place (update_display_data) with a progress bar, as
 * Keras's and fastai's: epoch i/n, elapsed time, ETA and the current loss.
 */
import { currentDisplay, JUPYTER_DISPLAY, type DisplayFn, type MimeBundle } from '../display';
import { ValueError } from '../engine';
import { training, type HistoryLike } from './charts';

export interface LiveOptions {
  /** Number of epochs, for the progress bar and ETA. */
  epochs: number;
  title?: string;
  /** Where to show output; defaults to the kernel's display. */
  display?: DisplayFn;
  /** Redraw the chart every n epochs (the progress bar updates every epoch). */
  every?: number;
}

export interface LiveChart {
  /** Records an epoch's logs and updates the outputs; pass it as `fit`'s `onEpochEnd`. */
  update(epoch: number, logs: { loss: number; metrics?: Record<string, number>; valLoss?: number; valMetrics?: Record<string, number> }): void;
  readonly history: Required<Pick<HistoryLike, 'loss' | 'metrics' | 'valLoss' | 'valMetrics'>> & { epoch: number[] };
}

let liveCounter = 0;

const formatTime = (s: number) => (s >= 60 ? `${Math.floor(s / 60)}m${String(Math.round(s % 60)).padStart(2, '0')}s` : `${s.toFixed(1)}s`);

/** The progress bar as a MIME bundle: HTML with a bar, and the same line as text. */
export function progressBundle(epoch: number, total: number, elapsed: number, loss: number | null): MimeBundle {
  const fraction = total > 0 ? Math.min(1, epoch / total) : 0;
  const eta = epoch > 0 ? (elapsed / epoch) * (total - epoch) : NaN;
  const text = `epoch ${epoch}/${total} | ${formatTime(elapsed)} elapsed | ETA ${Number.isFinite(eta) ? formatTime(eta) : '?'}${loss === null ? '' : ` | loss ${loss.toPrecision(4)}`}`;
  const filled = Math.round(30 * fraction);
  return {
    'text/plain': `[${'#'.repeat(filled)}${'.'.repeat(30 - filled)}] ${text}`,
    'text/html': `<div style="font-family:monospace;font-size:12px"><progress value="${epoch}" max="${total}" style="width:240px;vertical-align:middle"></progress> ${text}</div>`,
  };
}

export function live(options: LiveOptions): LiveChart {
  const show = options.display ?? currentDisplay();
  if (show === null) throw new ValueError('plot.live', 'no display: run it in a relulab kernel, or pass {display}');
  if (!Number.isInteger(options.epochs) || options.epochs <= 0) throw new ValueError('plot.live', `epochs must be a positive integer, got ${options.epochs}`);
  const id = `relulab-live-${++liveCounter}`;
  const start = Date.now();
  const history = { epoch: [] as number[], loss: [] as number[], metrics: {} as Record<string, number[]>, valLoss: [] as number[], valMetrics: {} as Record<string, number[]> };
  const bundle = (b: MimeBundle) => ({ [JUPYTER_DISPLAY]: () => b });
  show(bundle(progressBundle(0, options.epochs, 0, null)), { displayId: `${id}-progress` });
  let chartShown = false;
  return {
    history,
    update(epoch, logs) {
      history.epoch.push(epoch);
      history.loss.push(logs.loss);
      if (logs.valLoss !== undefined) history.valLoss.push(logs.valLoss);
      for (const [k, v] of Object.entries(logs.metrics ?? {})) (history.metrics[k] ??= []).push(v);
      for (const [k, v] of Object.entries(logs.valMetrics ?? {})) (history.valMetrics[k] ??= []).push(v);
      show(bundle(progressBundle(epoch, options.epochs, (Date.now() - start) / 1000, logs.loss)), { displayId: `${id}-progress`, update: true });
      if (epoch % (options.every ?? 1) === 0 || epoch === options.epochs) {
        show(training(history, { title: options.title }), { displayId: `${id}-chart`, update: chartShown });
        chartShown = true;
      }
    },
  };
}
