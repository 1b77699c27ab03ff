import { describe, expect, it } from 'vitest';
import { data, diag, fit, manualSeed, nn, plot, relu, relu6, leakyRelu, tensor, ValueError } from '../src';
import { JUPYTER_DISPLAY } from '../src/display';
import { resetPlotlyShipping } from '../src/plot/figure';

describe('plot builders return plain plotly figures', () => {
  it('line, scatter, bar and histogram accept tensors, typed arrays and arrays', () => {
    const f = plot.line(tensor([0, 1, 2]), [new Float32Array([1, 2, 3]), [3, 2, 1]], { names: ['up', 'down'], title: 'T', xLabel: 'x', yLabel: 'y' });
    expect(JSON.parse(JSON.stringify(f))).toEqual({
      data: [
        { type: 'scatter', mode: 'lines', x: [0, 1, 2], y: [1, 2, 3], name: 'up' },
        { type: 'scatter', mode: 'lines', x: [0, 1, 2], y: [3, 2, 1], name: 'down' },
      ],
      layout: { xaxis: { title: { text: 'x' } }, yaxis: { title: { text: 'y' } }, title: { text: 'T' }, showlegend: true },
    });
    const s = plot.scatter([1, 2, 3, 4], [1, 2, 3, 4], { labels: [0, 1, 0, 1] });
    expect(s.data.map((t) => [t.name, t.x])).toEqual([['class 0', [1, 3]], ['class 1', [2, 4]]]);
    const h = plot.histogram([0, 0, 1, 1, 1, 2], { bins: 2 });
    expect(h.data[0].y).toEqual([2, 4]);
    expect(plot.bar(['a', 'b'], [1, 2]).data[0]).toMatchObject({ type: 'bar', x: ['a', 'b'], y: [1, 2] });
  });

  it('rejects bad input with the function and the sizes at fault', () => {
    expect(() => plot.line([1, 2], [1, 2, 3])).toThrow('plot.line: series 0 has 3 values but x has 2');
    expect(() => plot.scatter([1], 'x' as never)).toThrow(ValueError);
    expect(() => plot.heatmap(tensor([1, 2]))).toThrow('plot.heatmap: expected a 2-D tensor, got shape [2]');
    expect(() => plot.image(tensor([[[[1]]], [[[2]]]]).reshape([1, 2, 1, 1]))).toThrow('plot.image: expected [H, W], [N, H, W] or [N, 1, H, W], got [1, 2, 1, 1]');
    expect(() => plot.gradFlow([])).toThrow('plot.gradFlow: no gradient statistics');
  });

  it('fn plots an activation and its autograd derivative, marking the engine value at each kink', () => {
    const f = plot.fn(relu6, [-2, 8], { derivative: true, points: 11 });
    expect(f.data.map((t) => t.name)).toEqual(['relu6', 'relu6′', 'relu6′ at kinks (engine)']);
    expect(f.data[2].x).toEqual([0, 6]);
    expect(f.data[2].y).toEqual([0, 0]);
    const leaky = plot.fn(leakyRelu, [-1, 1], { derivative: true, options: { negativeSlope: 0.2 }, points: 5 });
    expect(leaky.data[2].y).toEqual([0.2]);
    const slope = leaky.data[1].y as (number | null)[];
    expect(slope[0]).toBeCloseTo(0.2);
    expect(slope[slope.length - 1]).toBe(1);
    expect(plot.activations([relu, leakyRelu]).data).toHaveLength(6);
  });

  it('image lays out a grid of digits and grid combines figures into subplots', () => {
    const d = data.digits();
    const img = plot.image(d.images.slice([0, 6]), { cols: 3 });
    const z = img.data[0].z as (number | null)[][];
    expect([z.length, z[0].length]).toEqual([17, 26]);
    expect(z[8][0]).toBeNull();
    const g = plot.grid([plot.line([0, 1], [0, 1], { title: 'a' }), plot.line([0, 1], [1, 0], { title: 'b' })], { cols: 2 });
    expect(g.data.map((t) => [t.xaxis, t.yaxis])).toEqual([['x', 'y'], ['x2', 'y2']]);
    expect((g.layout.xaxis2 as { domain: number[] }).domain[0]).toBeGreaterThan(0.5);
  });

  it('training, decisionBoundary and gradFlow read fit histories, models and gradStats', () => {
    manualSeed(0);
    const set = data.moons({ n: 60 });
    const model = new nn.Sequential(new nn.Linear(2, 8), new nn.ReLU(), new nn.Linear(8, 2));
    const history = fit(model, set, { epochs: 2, metrics: ['accuracy'] });
    expect(plot.training(history).data.map((t) => t.name)).toEqual(['loss', 'accuracy']);
    const db = plot.decisionBoundary(model, set, { resolution: 10 });
    expect(db.data[0]).toMatchObject({ type: 'heatmap' });
    expect((db.data[0].z as number[][]).flat().every((c) => c === 0 || c === 1)).toBe(true);
    model.forward(set.x).sum().backward();
    expect(plot.gradFlow(diag.gradStats(model)).data[0].x).toEqual(['0.weight', '0.bias', '2.weight', '2.bias']);
  });
});

describe('one MIME bundle for every frontend', () => {
  it('has plotly JSON, HTML with a static SVG, a standalone SVG and text; JSON stays {data, layout}', () => {
    const f = plot.line([0, 1], [0, 1], { title: 'ReLU' });
    expect(Object.keys(f)).toEqual(['data', 'layout']);
    const bundle = (f as unknown as Record<symbol, () => Record<string, unknown>>)[JUPYTER_DISPLAY]();
    expect(Object.keys(bundle).sort()).toEqual(['application/vnd.plotly.v1+json', 'image/svg+xml', 'text/html', 'text/plain']);
    expect(bundle['application/vnd.plotly.v1+json']).toEqual({ data: f.data, layout: f.layout });
    expect(bundle['text/plain']).toBe('Figure "ReLU" (1 trace: scatter)');
    expect(String(bundle['image/svg+xml'])).toMatch(/^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/);
    expect(String(bundle['image/svg+xml'])).toContain('<polyline');
    expect(String(bundle['text/html'])).toContain('<svg xmlns');
  });

  it('ships plotly.js once: the first figure carries it, later ones do not', () => {
    resetPlotlyShipping();
    const html = () => String((plot.line([0, 1], [0, 1]) as unknown as Record<symbol, () => Record<string, unknown>>)[JUPYTER_DISPLAY]()['text/html']);
    const [a, b] = [html(), html()];
    expect(a.length).toBeGreaterThan(1_000_000);
    expect(a).toContain('window.Plotly = Plotly');
    expect(b.length).toBeLessThan(20_000);
    expect(b).toContain('__relulabPlotlyQueue');
  });

  it('live charts update in place through the display they are given', () => {
    const calls: [unknown, { displayId?: string; update?: boolean } | undefined][] = [];
    const live = plot.live({ epochs: 2, display: (v, o) => calls.push([v, o]) });
    live.update(1, { loss: 0.5 });
    live.update(2, { loss: 0.25 });
    expect(calls.map(([, o]) => `${o?.displayId}:${o?.update ?? false}`)).toEqual([
      'relulab-live-1-progress:false',
      'relulab-live-1-progress:true',
      'relulab-live-1-chart:false',
      'relulab-live-1-progress:true',
      'relulab-live-1-chart:true',
    ]);
    expect(live.history.loss).toEqual([0.5, 0.25]);
    expect(plot.progressBundle(1, 4, 2, 0.5)['text/plain']).toMatch(/^\[#{8}\.{22}\] epoch 1\/4 \| 2\.0s elapsed \| ETA 6\.0s \| loss 0\.5000$/);
    expect(() => plot.live({ epochs: 3 })).toThrow('plot.live: no display');
  });
});
