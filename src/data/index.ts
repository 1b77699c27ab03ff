/** `data`: seeded synthetic sets, the real digits set, splitting and batching. */
export { moons, circles, spirals, blobs, xor, regression1d, type Dataset, type SyntheticOptions } from './synthetic';
export { digits, type Digits } from './digits';
export { DataLoader, trainTestSplit, takeRows, permutation, type LoaderOptions, type SplitOptions } from './loader';
