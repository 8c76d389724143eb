//! A [`Table`] as Apache Parquet (the `arrow` and `parquet` crates).
//!
//! Column types map one to one: booleans; integers of the Rust width and
//! signedness (`u64` is `UINT64`); `f32` and `f64` as `FLOAT` and `DOUBLE`,
//! NaN and infinities as themselves; text as UTF-8 strings; entity
//! references as `UINT64` uids; lists as lists. Byte arrays (`[u8; 32]`
//! hashes, `Vec<u8>`) are lowercase hex strings, as in CSV and JSON, so a
//! hash compares equal to what `sha256sum` prints in every tool; other
//! values (maps, enums with data) are JSON text. `uid` is the only column
//! that is never null. Each column's metadata names its component
//! (`dizzy.component`) and, for hex, JSON and uid columns, what it holds
//! (`dizzy.encoding`: `hex`, `json`, `uid`); the file's metadata names the
//! snapshot (`dizzy.snapshot`). Compression: snappy.

use std::collections::HashMap;
use std::io::Write;
use std::sync::Arc;

use arrow_array::{
    ArrayRef, BooleanArray, Float32Array, Float64Array, Int8Array, Int16Array, Int32Array,
    Int64Array, ListArray, RecordBatch, StringArray, UInt8Array, UInt16Array, UInt32Array,
    UInt64Array,
};
use arrow_buffer::{NullBuffer, OffsetBuffer};
use arrow_schema::{DataType, Field, Schema};
use dizzy_snapshots::{Cell, ColumnType, Table};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;

/// Writes `table` as one Parquet file into `out`.
pub(crate) fn write(out: &mut (impl Write + Send), table: &Table) -> std::io::Result<()> {
    let mut fields = vec![Field::new("uid", DataType::UInt64, false)];
    let mut arrays: Vec<ArrayRef> = vec![Arc::new(UInt64Array::from(table.uids.clone()))];
    for column in &table.columns {
        let mut meta = HashMap::from([("dizzy.component".to_owned(), column.component.clone())]);
        if let Some(encoding) = encoding(&column.ty) {
            meta.insert("dizzy.encoding".to_owned(), encoding.to_owned());
        }
        fields.push(Field::new(&column.name, data_type(&column.ty), true).with_metadata(meta));
        let cells: Vec<Option<&Cell>> = column.cells.iter().map(Option::as_ref).collect();
        arrays.push(array(&column.ty, &cells).map_err(std::io::Error::other)?);
    }
    let schema = Arc::new(Schema::new(fields).with_metadata(HashMap::from([(
        "dizzy.snapshot".to_owned(),
        table.snapshot.to_string(),
    )])));
    let batch = RecordBatch::try_new(schema.clone(), arrays).map_err(std::io::Error::other)?;
    let props = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .build();
    let mut writer =
        ArrowWriter::try_new(out, schema, Some(props)).map_err(std::io::Error::other)?;
    writer.write(&batch).map_err(std::io::Error::other)?;
    writer.close().map_err(std::io::Error::other)?;
    Ok(())
}

/// What a column's values mean beyond their type, if anything.
fn encoding(ty: &ColumnType) -> Option<&'static str> {
    match ty {
        ColumnType::Bytes => Some("hex"),
        ColumnType::Json => Some("json"),
        ColumnType::Uid => Some("uid"),
        ColumnType::List(item) => encoding(item),
        _ => None,
    }
}

fn data_type(ty: &ColumnType) -> DataType {
    match ty {
        ColumnType::Bool => DataType::Boolean,
        ColumnType::Int { bits: 8 } => DataType::Int8,
        ColumnType::Int { bits: 16 } => DataType::Int16,
        ColumnType::Int { bits: 32 } => DataType::Int32,
        ColumnType::Int { .. } => DataType::Int64,
        ColumnType::UInt { bits: 8 } => DataType::UInt8,
        ColumnType::UInt { bits: 16 } => DataType::UInt16,
        ColumnType::UInt { bits: 32 } => DataType::UInt32,
        ColumnType::UInt { .. } | ColumnType::Uid => DataType::UInt64,
        ColumnType::F32 => DataType::Float32,
        ColumnType::F64 => DataType::Float64,
        ColumnType::List(item) => DataType::List(Arc::new(list_item(item))),
        // Text, hex bytes, JSON, and any kind added later: strings.
        _ => DataType::Utf8,
    }
}

fn list_item(item: &ColumnType) -> Field {
    Field::new("item", data_type(item), true)
}

/// A column's cells as an Arrow array of [`data_type`]'s type; an error
/// for a cell of another type (a broken table).
fn array(ty: &ColumnType, cells: &[Option<&Cell>]) -> Result<ArrayRef, String> {
    fn each<T>(
        cells: &[Option<&Cell>],
        f: impl Fn(&Cell) -> Option<T>,
    ) -> Result<Vec<Option<T>>, String> {
        cells
            .iter()
            .map(|c| match c {
                None => Ok(None),
                Some(c) => f(c)
                    .map(Some)
                    .ok_or_else(|| format!("a cell {c:?} in a column of another type")),
            })
            .collect()
    }
    fn int<T: TryFrom<i64>>(c: &Cell) -> Option<T> {
        match c {
            Cell::Int(i) => T::try_from(*i).ok(),
            _ => None,
        }
    }
    fn uint<T: TryFrom<u64>>(c: &Cell) -> Option<T> {
        match c {
            Cell::UInt(u) => T::try_from(*u).ok(),
            _ => None,
        }
    }
    Ok(match data_type(ty) {
        DataType::Boolean => Arc::new(BooleanArray::from(each(cells, |c| match c {
            Cell::Bool(b) => Some(*b),
            _ => None,
        })?)),
        DataType::Int8 => Arc::new(Int8Array::from(each(cells, int::<i8>)?)),
        DataType::Int16 => Arc::new(Int16Array::from(each(cells, int::<i16>)?)),
        DataType::Int32 => Arc::new(Int32Array::from(each(cells, int::<i32>)?)),
        DataType::Int64 => Arc::new(Int64Array::from(each(cells, int::<i64>)?)),
        DataType::UInt8 => Arc::new(UInt8Array::from(each(cells, uint::<u8>)?)),
        DataType::UInt16 => Arc::new(UInt16Array::from(each(cells, uint::<u16>)?)),
        DataType::UInt32 => Arc::new(UInt32Array::from(each(cells, uint::<u32>)?)),
        DataType::UInt64 => Arc::new(UInt64Array::from(each(cells, uint::<u64>)?)),
        DataType::Float32 => Arc::new(Float32Array::from(each(cells, |c| match c {
            Cell::F32(f) => Some(*f),
            _ => None,
        })?)),
        DataType::Float64 => Arc::new(Float64Array::from(each(cells, |c| match c {
            Cell::F64(f) => Some(*f),
            _ => None,
        })?)),
        DataType::List(_) => {
            let ColumnType::List(item) = ty else {
                return Err(format!("a list type for {ty:?}"));
            };
            let mut lengths = Vec::with_capacity(cells.len());
            let mut valid = Vec::with_capacity(cells.len());
            let mut items: Vec<Option<&Cell>> = Vec::new();
            for c in cells {
                match c {
                    Some(Cell::List(xs)) => {
                        lengths.push(xs.len());
                        valid.push(true);
                        items.extend(xs.iter().map(Option::as_ref));
                    }
                    None => {
                        lengths.push(0);
                        valid.push(false);
                    }
                    Some(other) => return Err(format!("a cell {other:?} in a list column")),
                }
            }
            let values = array(item, &items)?;
            Arc::new(
                ListArray::try_new(
                    Arc::new(list_item(item)),
                    OffsetBuffer::from_lengths(lengths),
                    values,
                    Some(NullBuffer::from(valid)),
                )
                .map_err(|e| e.to_string())?,
            )
        }
        _ => Arc::new(StringArray::from(each(cells, |c| {
            Some(match c {
                Cell::Text(s) => s.clone(),
                // JSON text whatever the value: a unit variant is `"Open"`,
                // so that every value of a `json` column parses.
                Cell::Json(v) => v.to_string(),
                other => match other.to_json() {
                    serde_json::Value::String(s) => s,
                    v => v.to_string(),
                },
            })
        })?)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::Array;
    use dizzy_snapshots::Column;
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

    #[test]
    fn columns_keep_their_types_and_values() {
        let col = |name: &str, ty: ColumnType, cells: Vec<Option<Cell>>| Column {
            name: name.into(),
            component: "t.c".into(),
            ty,
            cells,
        };
        let table = Table {
            snapshot: 4,
            uids: vec![2, 3],
            columns: vec![
                col(
                    "x",
                    ColumnType::F64,
                    vec![Some(Cell::F64(f64::INFINITY)), None],
                ),
                col(
                    "n",
                    ColumnType::Int { bits: 16 },
                    vec![Some(Cell::Int(-7)), Some(Cell::Int(300))],
                ),
                col(
                    "h",
                    ColumnType::Bytes,
                    vec![Some(Cell::Bytes(vec![0xff, 0])), None],
                ),
                col(
                    "files",
                    ColumnType::List(Box::new(ColumnType::Uid)),
                    vec![Some(Cell::List(vec![Some(Cell::UInt(9))])), None],
                ),
            ],
            notes: vec![],
        };
        let mut bytes = Vec::new();
        write(&mut bytes, &table).unwrap();
        let reader = ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::from(bytes))
            .unwrap()
            .build()
            .unwrap();
        let batches: Vec<RecordBatch> = reader.map(Result::unwrap).collect();
        let batch = &batches[0];
        let schema = batch.schema();
        let types: Vec<&DataType> = schema.fields().iter().map(|f| f.data_type()).collect();
        assert_eq!(
            types[..4],
            [
                &DataType::UInt64,
                &DataType::Float64,
                &DataType::Int16,
                &DataType::Utf8
            ]
        );
        assert_eq!(schema.field(3).metadata()["dizzy.encoding"], "hex");
        let x = batch
            .column(1)
            .as_any()
            .downcast_ref::<Float64Array>()
            .unwrap();
        assert_eq!(x.value(0), f64::INFINITY);
        assert!(x.is_null(1));
        let h = batch
            .column(3)
            .as_any()
            .downcast_ref::<StringArray>()
            .unwrap();
        assert_eq!(h.value(0), "ff00");
        let files = batch
            .column(4)
            .as_any()
            .downcast_ref::<ListArray>()
            .unwrap();
        assert!(files.is_null(1));
        let first = files.value(0);
        let uids = first.as_any().downcast_ref::<UInt64Array>().unwrap();
        assert_eq!(uids.values().to_vec(), [9]);
    }
}
