export { fit, evaluate, accuracy, type FitOptions, type History, type EpochLogs, type LossFn, type MetricFn } from './fit';
