// Every string the staff console shows, in English and simplified Chinese: one table per
// language, each added to the shared translations when its module loads. Importing this
// module loads both, so callers keep `import './strings.js'`.
import './strings.en.js';
import './strings.zh.js';
