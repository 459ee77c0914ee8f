//! Parquet, written column by column from the export's column table (no Arrow): rows gather
//! into a row group; each full group is encoded and its bytes handed on, so memory stays at
//! one group however long the export.

use super::columns::{COLUMNS, Cell};
use super::encoder::EncodeError;
use crate::domain::export::ExportRow;
use parquet::basic::Compression;
use parquet::data_type::{BoolType, ByteArray, ByteArrayType, DoubleType, Int32Type, Int64Type};
use parquet::file::metadata::KeyValue;
use parquet::file::properties::WriterProperties;
use parquet::file::writer::{SerializedColumnWriter, SerializedFileWriter};
use parquet::schema::parser::parse_message_type;
use std::sync::Arc;

/// Rows per row group: large enough for good compression, small enough for flat memory.
const ROW_GROUP: usize = 8192;
/// Where the resume cursor sits in the file's key-value metadata.
pub const NEXT_CURSOR_KEY: &str = "rapport.next_cursor";

#[derive(Default)]
pub struct ParquetEncoder {
    writer: Option<SerializedFileWriter<Vec<u8>>>,
    pending: Vec<ExportRow>,
}

fn message_type() -> String {
    let fields: String = COLUMNS
        .iter()
        .map(|column| format!("  {} {} {};\n", column.parquet.0, column.name, column.parquet.1))
        .collect();
    format!("message response {{\n{fields}}}")
}

impl ParquetEncoder {
    pub fn begin(&mut self, next: &str) -> Result<Vec<u8>, EncodeError> {
        let schema = Arc::new(parse_message_type(&message_type())?);
        let properties = WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .set_created_by(concat!("rapport ", env!("CARGO_PKG_VERSION")).to_owned())
            .set_key_value_metadata(Some(vec![KeyValue::new(NEXT_CURSOR_KEY.to_owned(), next.to_owned())]))
            .build();
        let mut writer = SerializedFileWriter::new(Vec::new(), schema, Arc::new(properties))?;
        let bytes = drain(&mut writer)?;
        self.writer = Some(writer);
        Ok(bytes)
    }

    pub fn rows(&mut self, rows: Vec<ExportRow>) -> Result<Vec<u8>, EncodeError> {
        self.pending.extend(rows);
        if self.pending.len() < ROW_GROUP { Ok(Vec::new()) } else { self.flush_group() }
    }

    pub fn finish(&mut self) -> Result<Vec<u8>, EncodeError> {
        let mut bytes = if self.pending.is_empty() { Vec::new() } else { self.flush_group()? };
        let writer = self.writer.take().ok_or_else(|| parquet::errors::ParquetError::General("not begun".into()))?;
        bytes.extend(writer.into_inner()?);
        Ok(bytes)
    }

    fn flush_group(&mut self) -> Result<Vec<u8>, EncodeError> {
        let rows = std::mem::take(&mut self.pending);
        let writer = self.writer.as_mut().ok_or_else(|| parquet::errors::ParquetError::General("not begun".into()))?;
        let mut group = writer.next_row_group()?;
        let mut columns = COLUMNS.iter();
        while let Some(mut column_writer) = group.next_column()? {
            let column = columns.next().ok_or_else(|| parquet::errors::ParquetError::General("schema".into()))?;
            let cells: Vec<Cell<'_>> = rows.iter().map(|row| (column.cell)(row)).collect();
            write_cells(&mut column_writer, column.parquet.0.starts_with("OPTIONAL"), cells)?;
            column_writer.close()?;
        }
        group.close()?;
        drain(writer)
    }
}

/// Moves what the writer has produced so far out of its buffer. Offsets in the footer are
/// counted by the writer itself, so emptying the buffer does not disturb them.
fn drain(writer: &mut SerializedFileWriter<Vec<u8>>) -> Result<Vec<u8>, EncodeError> {
    writer.flush()?;
    Ok(std::mem::take(writer.inner_mut()))
}

/// Values and definition levels (1 present, 0 missing) of one column.
struct Levels<T> {
    values: Vec<T>,
    definitions: Vec<i16>,
}

impl<T> Levels<T> {
    fn with_capacity(capacity: usize) -> Self {
        Self { values: Vec::with_capacity(capacity), definitions: Vec::with_capacity(capacity) }
    }

    fn push(&mut self, value: Option<T>) {
        self.definitions.push(i16::from(value.is_some()));
        self.values.extend(value);
    }
}

fn write_cells(
    writer: &mut SerializedColumnWriter<'_>,
    optional: bool,
    cells: Vec<Cell<'_>>,
) -> Result<(), EncodeError> {
    let levels = |definitions: &[i16]| -> Option<Vec<i16>> { optional.then(|| definitions.to_vec()) };
    match cells.first() {
        None => Ok(()),
        Some(Cell::Text(_) | Cell::Json(_)) => {
            let mut column = Levels::<ByteArray>::with_capacity(cells.len());
            for cell in cells {
                column.push(match cell {
                    Cell::Text(text) => text.map(|t| ByteArray::from(t.as_bytes().to_vec())),
                    Cell::Json(json) => Some(ByteArray::from(json.into_bytes())),
                    _ => None,
                });
            }
            let definitions = levels(&column.definitions);
            writer.typed::<ByteArrayType>().write_batch(&column.values, definitions.as_deref(), None)?;
            Ok(())
        }
        Some(Cell::Int(_)) => {
            let mut column = Levels::<i32>::with_capacity(cells.len());
            for cell in cells {
                column.push(if let Cell::Int(value) = cell { value } else { None });
            }
            let definitions = levels(&column.definitions);
            writer.typed::<Int32Type>().write_batch(&column.values, definitions.as_deref(), None)?;
            Ok(())
        }
        Some(Cell::Time(_)) => {
            let mut column = Levels::<i64>::with_capacity(cells.len());
            for cell in cells {
                column.push(if let Cell::Time(at) = cell { at.map(|at| at.timestamp_micros()) } else { None });
            }
            let definitions = levels(&column.definitions);
            writer.typed::<Int64Type>().write_batch(&column.values, definitions.as_deref(), None)?;
            Ok(())
        }
        Some(Cell::Double(_)) => {
            let values: Vec<f64> =
                cells.into_iter().map(|cell| if let Cell::Double(v) = cell { v } else { f64::NAN }).collect();
            writer.typed::<DoubleType>().write_batch(&values, None, None)?;
            Ok(())
        }
        Some(Cell::Bool(_)) => {
            let values: Vec<bool> = cells.into_iter().map(|cell| matches!(cell, Cell::Bool(true))).collect();
            writer.typed::<BoolType>().write_batch(&values, None, None)?;
            Ok(())
        }
    }
}
