//! NDJSON reading objects, read at the speed of the disk.
//!
//! [`ReadingsJsonFormat`] is DataFusion's JSON file format with its own reader: the listing
//! table, partition columns, projection and the splitting of large objects into byte ranges (so
//! both cores work on one object) are DataFusion's; decoding is [`LineDecoder`] (the
//! `store-ndjson` crate, kept apart so it can be fuzzed without DataFusion), which
//! builds only the columns the query asks for, skips the other values without building them, and
//! leaves any line that is not a plain flat object to arrow-json. The lake check has validated
//! every line of a folder's objects before a query reads them.
//!
//! Depends on DataFusion (the file-format, source and opener interfaces), arrow-json (the general
//! reader) and the object store; on nothing else of this crate.

#[cfg(test)]
mod tests;

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::Session;
use datafusion::common::Statistics;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::datasource::file_format::FileFormat;
use datafusion::datasource::file_format::file_compression_type::FileCompressionType;
use datafusion::datasource::file_format::json::JsonFormat;
use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::physical_plan::{
    FileOpenFuture, FileOpener, FileScanConfig, FileSource,
};
use datafusion::datasource::projection::{ProjectionOpener, SplitProjection};
use datafusion::datasource::source::DataSourceExec;
use datafusion::datasource::table_schema::TableSchema;
use datafusion::error::{DataFusionError, Result};
use datafusion::object_store::{GetOptions, GetRange, GetResultPayload, ObjectMeta, ObjectStore};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_plan::metrics::ExecutionPlanMetricsSet;
use datafusion::physical_plan::projection::ProjectionExprs;
use datafusion::physical_plan::{ExecutionPlan, apply_expression_roots};
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};

pub(crate) use store_ndjson::{LineDecoder, LineRange};

/// Bytes read from a local object per step.
const FILE_BLOCK: usize = 1024 * 1024;
/// Bytes fetched past a range's end for the line that crosses it, before fetching the rest.
const LOOKAHEAD: u64 = 64 * 1024;

/// DataFusion's NDJSON format, read by [`LineDecoder`].
#[derive(Debug, Default)]
pub struct ReadingsJsonFormat {
    json: JsonFormat,
}

#[async_trait]
impl FileFormat for ReadingsJsonFormat {
    fn get_ext(&self) -> String {
        self.json.get_ext()
    }

    fn get_ext_with_compression(&self, compression: &FileCompressionType) -> Result<String> {
        self.json.get_ext_with_compression(compression)
    }

    fn compression_type(&self) -> Option<FileCompressionType> {
        self.json.compression_type()
    }

    async fn infer_schema(
        &self,
        state: &dyn Session,
        store: &Arc<dyn ObjectStore>,
        objects: &[ObjectMeta],
    ) -> Result<SchemaRef> {
        self.json.infer_schema(state, store, objects).await
    }

    async fn infer_stats(
        &self,
        state: &dyn Session,
        store: &Arc<dyn ObjectStore>,
        table_schema: SchemaRef,
        object: &ObjectMeta,
    ) -> Result<Statistics> {
        self.json
            .infer_stats(state, store, table_schema, object)
            .await
    }

    async fn create_physical_plan(
        &self,
        _state: &dyn Session,
        conf: FileScanConfig,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        Ok(DataSourceExec::from_data_source(conf))
    }

    fn file_source(&self, table_schema: TableSchema) -> Arc<dyn FileSource> {
        Arc::new(ReadingsJsonSource {
            projection: SplitProjection::unprojected(&table_schema),
            table_schema,
            batch_size: None,
            metrics: ExecutionPlanMetricsSet::new(),
        })
    }
}

/// The scan's settings: the table, the columns asked for, the batch size.
#[derive(Clone)]
struct ReadingsJsonSource {
    table_schema: TableSchema,
    batch_size: Option<usize>,
    metrics: ExecutionPlanMetricsSet,
    projection: SplitProjection,
}

impl FileSource for ReadingsJsonSource {
    fn create_file_opener(
        &self,
        store: Arc<dyn ObjectStore>,
        config: &FileScanConfig,
        _partition: usize,
    ) -> Result<Arc<dyn FileOpener>> {
        if config.file_compression_type.is_compressed() {
            return Err(DataFusionError::NotImplemented(
                "compressed NDJSON reading objects".into(),
            ));
        }
        let file_schema = self.table_schema.file_schema();
        let opener = Arc::new(ReadingsJsonOpener {
            batch_size: self.batch_size.unwrap_or(8192),
            schema: Arc::new(file_schema.project(&self.projection.file_indices)?),
            store,
        });
        ProjectionOpener::try_new(self.projection.clone(), opener, file_schema)
    }

    fn table_schema(&self) -> &TableSchema {
        &self.table_schema
    }

    fn with_batch_size(&self, batch_size: usize) -> Arc<dyn FileSource> {
        let mut source = self.clone();
        source.batch_size = Some(batch_size);
        Arc::new(source)
    }

    fn try_pushdown_projection(
        &self,
        projection: &ProjectionExprs,
    ) -> Result<Option<Arc<dyn FileSource>>> {
        let mut source = self.clone();
        let merged = self.projection.source.try_merge(projection)?;
        source.projection = SplitProjection::new(self.table_schema.file_schema(), &merged);
        Ok(Some(Arc::new(source)))
    }

    fn projection(&self) -> Option<&ProjectionExprs> {
        Some(&self.projection.source)
    }

    fn metrics(&self) -> &ExecutionPlanMetricsSet {
        &self.metrics
    }

    fn file_type(&self) -> &str {
        "json"
    }

    fn apply_expressions(
        &self,
        f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        apply_expression_roots(self.projection.source.iter(), f)
    }
}

/// Opens one object, or one byte range of it, as a stream of batches of `schema`.
struct ReadingsJsonOpener {
    batch_size: usize,
    schema: SchemaRef,
    store: Arc<dyn ObjectStore>,
}

impl FileOpener for ReadingsJsonOpener {
    fn open(&self, file: PartitionedFile) -> Result<FileOpenFuture> {
        let size = file.object_meta.size;
        let (start, end) = match &file.range {
            Some(r) => (to_offset(r.start)?, to_offset(r.end)?.min(size)),
            None => (0, size),
        };
        let read = Read {
            store: self.store.clone(),
            location: file.object_meta.location,
            size,
            batch_size: self.batch_size,
            decoder: LineDecoder::new(self.schema.clone())?,
        };
        Ok(Box::pin(async move { Ok(read.batches(start, end)) }))
    }
}

fn to_offset(n: i64) -> Result<u64> {
    u64::try_from(n).map_err(|_| DataFusionError::Execution(format!("negative byte offset {n}")))
}

/// One open object range: where it is, and the decoder its lines go to.
struct Read {
    store: Arc<dyn ObjectStore>,
    location: datafusion::object_store::path::Path,
    size: u64,
    batch_size: usize,
    decoder: LineDecoder,
}

impl Read {
    /// The batches of the lines in `[start, end)` (see [`LineRange`]).
    fn batches(self, start: u64, end: u64) -> BoxStream<'static, Result<RecordBatch>> {
        if start >= end {
            return futures::stream::empty().boxed();
        }
        let range = LineRange::new(start, end);
        let state = (self, range, None::<Chunks>);
        futures::stream::try_unfold(Some(state), move |state| async move {
            let Some((mut read, mut range, mut chunks)) = state else {
                return Ok(None);
            };
            loop {
                if read.decoder.rows() >= read.batch_size {
                    let batch = read.decoder.flush()?;
                    return Ok(batch.map(|b| (b, Some((read, range, chunks)))));
                }
                if range.done() {
                    break;
                }
                let next = match chunks.as_mut() {
                    Some(c) => c.try_next().await?,
                    None => None,
                };
                match next {
                    Some(chunk) => range.push(&chunk, |lines| read.decoder.decode(lines))?,
                    None if range.next_offset() < read.size => {
                        // The first fetch, or the rest of the line crossing the range's end.
                        let from = range.next_offset();
                        let to = if chunks.is_none() {
                            (end + LOOKAHEAD).min(read.size)
                        } else {
                            read.size
                        };
                        chunks =
                            Some(fetch(read.store.clone(), read.location.clone(), from, to).await?);
                    }
                    None => {
                        range.finish(|line| read.decoder.decode(line))?;
                        break;
                    }
                }
            }
            Ok(read.decoder.flush()?.map(|b| (b, None)))
        })
        .boxed()
    }
}

/// Bytes `[from, to)` of an object: a local file in large blocks, others as they stream.
async fn fetch(
    store: Arc<dyn ObjectStore>,
    location: datafusion::object_store::path::Path,
    from: u64,
    to: u64,
) -> Result<Chunks> {
    let options = GetOptions {
        range: Some(GetRange::Bounded(from..to)),
        ..Default::default()
    };
    let got = store.get_opts(&location, options).await?;
    Ok(match got.payload {
        GetResultPayload::File(file, _) => file_blocks(file, from, to)?,
        GetResultPayload::Stream(stream) => stream.map_err(DataFusionError::from).boxed(),
    })
}

type Chunks = BoxStream<'static, Result<bytes::Bytes>>;

/// `[from, to)` of a local file in blocks of [`FILE_BLOCK`] bytes.
fn file_blocks(mut file: std::fs::File, from: u64, to: u64) -> Result<Chunks> {
    use std::io::{Read as _, Seek, SeekFrom};
    file.seek(SeekFrom::Start(from))?;
    let mut left = to - from;
    let blocks = std::iter::from_fn(move || {
        if left == 0 {
            return None;
        }
        let mut block = Vec::with_capacity(FILE_BLOCK.min(left as usize));
        match (&mut file)
            .take(left.min(FILE_BLOCK as u64))
            .read_to_end(&mut block)
        {
            Ok(0) => None,
            Ok(n) => {
                left -= n as u64;
                Some(Ok(bytes::Bytes::from(block)))
            }
            Err(e) => Some(Err(DataFusionError::IoError(e))),
        }
    });
    Ok(futures::stream::iter(blocks).boxed())
}
