//! `send`: readings from an NDJSON or CSV file through the door's checks into the sink, rejects
//! into a reject file, counts of both at the end.

use std::io::{BufRead, Write};
use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result};
use std::sync::Arc;
use store_model::Reading;
use store_model::planning::printable;
use store_model::ports::{READINGS_PER_PUT, ReadingSink, SinkStats};
use store_model::reading::MAX_RECORD_BYTES;

use crate::input::{self, InputFormat, Rejected};
use crate::summary;

/// Lines validated per block handed from the reader thread to the writer.
const PARSE_BLOCK: usize = 4096;

/// Sends the readings of `file` (`-` for standard input) in `format` to `sink`: lines are read
/// with a bounded buffer and validated on their own thread while this one writes the previous
/// block. Rejected lines go to `rejects` as they come. Returns what the sink delivered and the
/// number of lines rejected.
pub async fn send(
    sink: Arc<dyn ReadingSink>,
    file: &Path,
    format: InputFormat,
    door: input::Door,
    rejects: &Path,
) -> Result<(SinkStats, usize)> {
    let started = Instant::now();
    let source = file.display().to_string();
    let (reader, progress): (Box<dyn BufRead + Send>, _) = if source == "-" {
        let progress = crate::progress::bytes(None);
        let reader = std::io::BufReader::new(progress.wrap_read(std::io::stdin()));
        (Box::new(reader), progress)
    } else {
        let input = std::fs::File::open(file).with_context(|| format!("opening {source}"))?;
        let progress = crate::progress::bytes(input.metadata().ok().map(|m| m.len()));
        let reader = std::io::BufReader::with_capacity(1 << 20, progress.wrap_read(input));
        (Box::new(reader), progress)
    };
    let mut rejected = RejectFile::new(rejects);
    let mut batch: Vec<Reading> = Vec::with_capacity(READINGS_PER_PUT);
    // Lines are read (with a bounded buffer) and validated on their own thread, in blocks,
    // while this one encodes and writes the previous block: the two halves of the work overlap.
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<Result<Reading, Rejected>>>(4);
    let parser = spawn_parser(reader, source.clone(), format, door, tx);
    let delivered = async {
        while let Some(block) = rx.recv().await {
            for result in block {
                match result {
                    Ok(mut r) => {
                        r.ensure_event_id();
                        batch.push(r);
                        if batch.len() >= READINGS_PER_PUT {
                            sink.put(&batch).await.context("sending readings")?;
                            batch.clear();
                        }
                    }
                    Err(rej) => progress.suspend(|| rejected.write(&rej))?,
                }
            }
        }
        sink.put(&batch).await.context("sending readings")?;
        sink.flush().await.context("delivering readings")
    }
    .await;
    progress.finish_and_clear();
    rejected.finish()?;
    let stats = match delivered {
        Ok(stats) => stats,
        Err(e) => {
            // Say how far it got: the readings delivered are in the lake in input order, and
            // anything the sink could not write is not half in it.
            let so_far = sink.stats();
            drop(rx);
            let _ = parser.join();
            return Err(e.context(format!(
                "{} of {} readings were delivered before the failure; {} line(s) rejected so far",
                so_far.delivered, so_far.accepted, rejected.count
            )));
        }
    };
    parser
        .join()
        .map_err(|_| anyhow::anyhow!("the reader thread panicked"))?
        .with_context(|| format!("reading {source}"))?;
    eprintln!(
        "store-app: {}; {} rejected",
        summary(&stats, started),
        rejected.count
    );
    Ok((stats, rejected.count))
}

/// Rejected lines, written as they come (one JSON per line), so a run with many bad lines holds
/// none of them in memory and a stopped run keeps the ones found so far. The file is created
/// with the first reject.
struct RejectFile<'a> {
    path: &'a Path,
    out: Option<std::io::BufWriter<std::fs::File>>,
    count: usize,
}

impl<'a> RejectFile<'a> {
    fn new(path: &'a Path) -> Self {
        Self {
            path,
            out: None,
            count: 0,
        }
    }

    fn write(&mut self, rej: &Rejected) -> Result<()> {
        eprintln!(
            "{}:{}: field `{}`: {}",
            printable(&rej.source),
            rej.line,
            rej.field,
            printable(&rej.reason)
        );
        if self.out.is_none() {
            if let Some(dir) = self.path.parent() {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("creating {}", dir.display()))?;
            }
            let file = std::fs::File::create(self.path)
                .with_context(|| format!("creating {}", self.path.display()))?;
            self.out = Some(std::io::BufWriter::new(file));
        }
        let out = self.out.as_mut().expect("opened above");
        serde_json::to_writer(&mut *out, rej)?;
        out.write_all(b"\n")
            .with_context(|| format!("writing {}", self.path.display()))?;
        self.count += 1;
        Ok(())
    }

    fn finish(&mut self) -> Result<()> {
        if let Some(out) = self.out.take() {
            let file = out
                .into_inner()
                .map_err(|e| e.into_error())
                .with_context(|| format!("writing {}", self.path.display()))?;
            file.sync_all()
                .with_context(|| format!("writing {}", self.path.display()))?;
        }
        Ok(())
    }
}

/// Reads lines (with a bounded buffer) and validates them on a thread of their own, handing
/// blocks of results to `tx`; ends early when the receiver is gone.
fn spawn_parser(
    reader: Box<dyn BufRead + Send>,
    source: String,
    format: InputFormat,
    door: input::Door,
    tx: tokio::sync::mpsc::Sender<Vec<Result<Reading, Rejected>>>,
) -> std::thread::JoinHandle<std::io::Result<()>> {
    std::thread::spawn(move || {
        let mut lines = input::LineReader::new(reader, MAX_RECORD_BYTES);
        let mut parser = input::LineParser::new(&source, format, door);
        let mut block = Vec::with_capacity(PARSE_BLOCK);
        while let Some(raw) = lines.next_line()? {
            block.extend(parser.parse(&raw));
            if block.len() == PARSE_BLOCK {
                let full = std::mem::replace(&mut block, Vec::with_capacity(PARSE_BLOCK));
                if tx.blocking_send(full).is_err() {
                    return Ok(());
                }
            }
        }
        let _ = tx.blocking_send(block);
        Ok(())
    })
}
