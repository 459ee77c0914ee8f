//! Turns batches of export rows into bytes of one format, incrementally: whatever a batch
//! completes is handed on at once, so memory holds at most one batch (one row group for
//! Parquet).

use super::columns::COLUMNS;
use super::parquet::ParquetEncoder;
use crate::domain::export::ExportRow;
use serde::Deserialize;
use utoipa::ToSchema;

#[derive(Clone, Copy, Debug, Default, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ExportFormat {
    /// One JSON object per line (`application/x-ndjson`).
    #[default]
    Ndjson,
    /// RFC 4180 with a header row; objects and arrays as JSON text.
    Csv,
    /// Apache Parquet, Snappy-compressed; the resume cursor is also in the file's key-value
    /// metadata (`rapport.next_cursor`).
    Parquet,
}

impl ExportFormat {
    pub fn media_type(self) -> &'static str {
        match self {
            ExportFormat::Ndjson => "application/x-ndjson",
            ExportFormat::Csv => "text/csv; charset=utf-8; header=present",
            ExportFormat::Parquet => "application/vnd.apache.parquet",
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ExportFormat::Ndjson => "ndjson",
            ExportFormat::Csv => "csv",
            ExportFormat::Parquet => "parquet",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum EncodeError {
    #[error("CSV: {0}")]
    Csv(#[from] csv::Error),
    #[error("Parquet: {0}")]
    Parquet(#[from] parquet::errors::ParquetError),
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
    #[error("JSON: {0}")]
    Json(#[from] serde_json::Error),
}

pub enum Encoder {
    Ndjson,
    Csv,
    Parquet(Box<ParquetEncoder>),
}

impl Encoder {
    pub fn new(format: ExportFormat) -> Self {
        match format {
            ExportFormat::Ndjson => Encoder::Ndjson,
            ExportFormat::Csv => Encoder::Csv,
            ExportFormat::Parquet => Encoder::Parquet(Box::default()),
        }
    }

    pub fn begin(&mut self, next: &str) -> Result<Vec<u8>, EncodeError> {
        match self {
            Encoder::Ndjson => Ok(Vec::new()),
            Encoder::Csv => csv_records(std::iter::once(COLUMNS.iter().map(|c| c.name.to_owned()).collect())),
            Encoder::Parquet(parquet) => parquet.begin(next),
        }
    }

    pub fn rows(&mut self, rows: Vec<ExportRow>) -> Result<Vec<u8>, EncodeError> {
        match self {
            Encoder::Ndjson => {
                let mut out = Vec::with_capacity(rows.len().saturating_mul(512));
                for row in &rows {
                    serde_json::to_writer(&mut out, row)?;
                    out.push(b'\n');
                }
                Ok(out)
            }
            Encoder::Csv => {
                csv_records(rows.iter().map(|row| COLUMNS.iter().map(|c| (c.cell)(row).csv().into_owned()).collect()))
            }
            Encoder::Parquet(parquet) => parquet.rows(rows),
        }
    }

    pub fn finish(&mut self) -> Result<Vec<u8>, EncodeError> {
        match self {
            Encoder::Ndjson | Encoder::Csv => Ok(Vec::new()),
            Encoder::Parquet(parquet) => parquet.finish(),
        }
    }
}

fn csv_records(records: impl Iterator<Item = Vec<String>>) -> Result<Vec<u8>, EncodeError> {
    let mut writer = csv::WriterBuilder::new().terminator(csv::Terminator::CRLF).from_writer(Vec::new());
    for record in records {
        writer.write_record(&record)?;
    }
    writer.into_inner().map_err(|e| EncodeError::Io(e.into_error()))
}
