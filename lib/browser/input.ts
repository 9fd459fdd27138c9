// The browser client's inputs are every client's (lib/api/client_input.ts: nested arrays,
// {data, shape}, tfjs tensors, typed arrays of whole examples, images); named here for the page's API.
export { type ClientInput as BrowserInput, encodeClientInput, imageToGray, imageToRgb, needsInputShape, snapshotInput, toInput } from '../api/client_input';
