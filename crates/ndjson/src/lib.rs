//! Reading NDJSON reading objects fast: [`LineRange`] splits the chunks of a byte range of an
//! object into whole lines, the way DataFusion splits line-delimited objects, and
//! [`LineDecoder`] decodes flat objects straight into Arrow columns, building only the columns
//! asked for and leaving any line that is not plain to arrow-json.
//!
//! The planner's NDJSON file format (`store-local`) reads through these. They depend on Arrow
//! and nothing else, so the fuzz targets (`fuzz/`) can run them against arrow-json without
//! building DataFusion.

mod decoder;
mod lines;

pub use decoder::LineDecoder;
pub use lines::LineRange;
