// Entry of dist/sello.global.js, the script-tag build that defines the global `Sello`.
export { attachToAxios } from "./axios.js";
export * from "./index.js";
export { attachToJQuery } from "./jquery.js";
