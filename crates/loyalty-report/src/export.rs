//! `loyalty export segments`: every member's row of the latest run as CSV or Parquet, read
//! from the store a page at a time. The Parquet writer is also what `bench-insight` uses to
//! hand orders to DuckDB.

use loyalty_store::analytics::MemberInsight;
use loyalty_store::Store;
use parquet::data_type::{ByteArray, ByteArrayType, DoubleType, Int64Type};
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::parser::parse_message_type;
use std::fs::File;
use std::path::Path;
use std::sync::Arc;

/// Rows per page read from the store and per Parquet row group.
pub const PAGE: i64 = 50_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Csv,
    Parquet,
}

const HEADER: [&str; 18] = [
    "member_id",
    "recency_days",
    "frequency",
    "monetary_minor",
    "first_order_age_days",
    "orders_total",
    "repeat_purchases",
    "r",
    "f",
    "m",
    "value_segment",
    "score_segment",
    "stage",
    "p_alive",
    "expected_purchases",
    "expected_order_value_minor",
    "clv_minor",
    "run_id",
];

const SCHEMA: &str = "message segments {
  required binary member_id (STRING); optional int64 recency_days; required int64 frequency;
  required int64 monetary_minor; optional int64 first_order_age_days; required int64 orders_total;
  required int64 repeat_purchases; optional int64 r; optional int64 f; optional int64 m;
  required binary value_segment (STRING); required binary score_segment (STRING); required binary stage (STRING);
  optional double p_alive; optional double expected_purchases; optional double expected_order_value_minor;
  optional double clv_minor; required int64 run_id;
}";

/// Writes the latest run's member rows to `out`; returns how many.
pub async fn segments(store: &dyn Store, format: Format, out: &Path) -> anyhow::Result<usize> {
    let run = store
        .latest_insight_run()
        .await?
        .ok_or_else(|| anyhow::anyhow!("no insight has been computed yet: run `loyalty insight` first"))?;
    let file = File::create(out).map_err(|e| anyhow::anyhow!("cannot create {}: {e}", out.display()))?;
    let mut sink: Box<dyn RowSink> = match format {
        Format::Csv => Box::new(csv::Writer::from_writer(file)),
        Format::Parquet => Box::new(ParquetRows::new(file, SCHEMA)?),
    };
    sink.header()?;
    let (mut after, mut total) = (None::<String>, 0);
    loop {
        let rows = store.insight_page(&run, after.as_deref(), PAGE).await?;
        sink.rows(&rows)?;
        total += rows.len();
        if (rows.len() as i64) < PAGE {
            break;
        }
        after = rows.last().map(|r| r.member_id.clone());
    }
    sink.finish()?;
    Ok(total)
}

trait RowSink {
    fn header(&mut self) -> anyhow::Result<()>;
    fn rows(&mut self, rows: &[MemberInsight]) -> anyhow::Result<()>;
    fn finish(self: Box<Self>) -> anyhow::Result<()>;
}

impl RowSink for csv::Writer<File> {
    fn header(&mut self) -> anyhow::Result<()> {
        Ok(self.write_record(HEADER)?)
    }

    fn rows(&mut self, rows: &[MemberInsight]) -> anyhow::Result<()> {
        let opt = |v: Option<i64>| v.map(|v| v.to_string()).unwrap_or_default();
        let float = |v: Option<f64>| v.map(|v| v.to_string()).unwrap_or_default();
        for m in rows {
            let [r, f, sm] = m.scores.map_or([None; 3], |s| s.map(Some));
            self.write_record([
                m.member_id.clone(),
                opt(m.recency_days),
                m.frequency.to_string(),
                m.monetary_minor.to_string(),
                opt(m.first_order_age_days),
                m.orders_total.to_string(),
                m.repeat_purchases.to_string(),
                opt(r),
                opt(f),
                opt(sm),
                m.value_segment.clone(),
                m.score_segment.clone(),
                m.stage.clone(),
                float(m.p_alive),
                float(m.expected_purchases),
                float(m.expected_order_value_minor),
                float(m.clv_minor),
                m.run_id.to_string(),
            ])?;
        }
        Ok(())
    }

    fn finish(mut self: Box<Self>) -> anyhow::Result<()> {
        Ok(self.flush()?)
    }
}

/// One column of a row group.
pub enum Column {
    Text(Vec<ByteArray>),
    Int(Vec<i64>),
    OptInt(Vec<Option<i64>>),
    OptFloat(Vec<Option<f64>>),
}

/// A Parquet file written one row group at a time, columns in schema order.
pub struct ParquetRows {
    writer: SerializedFileWriter<File>,
}

impl ParquetRows {
    pub fn new(file: File, schema: &str) -> anyhow::Result<Self> {
        let schema = Arc::new(parse_message_type(schema)?);
        let props = Arc::new(WriterProperties::builder().build());
        Ok(Self { writer: SerializedFileWriter::new(file, schema, props)? })
    }

    /// Writes one row group; `columns` in schema order, all of one length.
    pub fn row_group(&mut self, columns: Vec<Column>) -> anyhow::Result<()> {
        let mut group = self.writer.next_row_group()?;
        for column in columns {
            let mut w = group.next_column()?.ok_or_else(|| anyhow::anyhow!("more columns than the schema has"))?;
            match column {
                Column::Text(v) => w.typed::<ByteArrayType>().write_batch(&v, None, None).map(|_| ())?,
                Column::Int(v) => w.typed::<Int64Type>().write_batch(&v, None, None).map(|_| ())?,
                Column::OptInt(v) => {
                    let (values, levels) = split(&v);
                    w.typed::<Int64Type>().write_batch(&values, Some(&levels), None).map(|_| ())?
                }
                Column::OptFloat(v) => {
                    let (values, levels) = split(&v);
                    w.typed::<DoubleType>().write_batch(&values, Some(&levels), None).map(|_| ())?
                }
            }
            w.close()?;
        }
        group.close()?;
        Ok(())
    }

    pub fn close(self) -> anyhow::Result<()> {
        self.writer.close()?;
        Ok(())
    }
}

/// Present values and definition levels (1 present, 0 null) of an optional column.
fn split<T: Copy>(v: &[Option<T>]) -> (Vec<T>, Vec<i16>) {
    (v.iter().flatten().copied().collect(), v.iter().map(|x| i16::from(x.is_some())).collect())
}

fn text(rows: &[MemberInsight], f: impl Fn(&MemberInsight) -> &str) -> Column {
    Column::Text(rows.iter().map(|m| ByteArray::from(f(m).as_bytes().to_vec())).collect())
}

impl RowSink for ParquetRows {
    fn header(&mut self) -> anyhow::Result<()> {
        Ok(())
    }

    fn rows(&mut self, rows: &[MemberInsight]) -> anyhow::Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        let int = |f: fn(&MemberInsight) -> i64| Column::Int(rows.iter().map(f).collect());
        let opt = |f: fn(&MemberInsight) -> Option<i64>| Column::OptInt(rows.iter().map(f).collect());
        let float = |f: fn(&MemberInsight) -> Option<f64>| Column::OptFloat(rows.iter().map(f).collect());
        self.row_group(vec![
            text(rows, |m| &m.member_id),
            opt(|m| m.recency_days),
            int(|m| m.frequency),
            int(|m| m.monetary_minor),
            opt(|m| m.first_order_age_days),
            int(|m| m.orders_total),
            int(|m| m.repeat_purchases),
            opt(|m| m.scores.map(|s| s[0])),
            opt(|m| m.scores.map(|s| s[1])),
            opt(|m| m.scores.map(|s| s[2])),
            text(rows, |m| &m.value_segment),
            text(rows, |m| &m.score_segment),
            text(rows, |m| &m.stage),
            float(|m| m.p_alive),
            float(|m| m.expected_purchases),
            float(|m| m.expected_order_value_minor),
            float(|m| m.clv_minor),
            int(|m| m.run_id),
        ])
    }

    fn finish(self: Box<Self>) -> anyhow::Result<()> {
        (*self).close()
    }
}
