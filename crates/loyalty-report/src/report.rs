//! `loyalty report`: one self-contained HTML page (inline CSS and SVG, no script, no external
//! asset) with the charts operations staff read: tier mix, RFM segment sizes and value, monthly
//! KPIs, points issued against redeemed and expired, the P(alive) histogram, and coupons, the
//! points mall and the lottery (`rewards_section`), and paid membership (`membership_section`).

use crate::analysis::RunSummary;
use crate::config::{InsightConfig, Scheme};
use crate::kpi::{self, Granularity, KpiPeriod, LedgerCheck};
use crate::svg::{self, Series};
use jiff::Timestamp;
use loyalty_core::Program;
use loyalty_store::analytics::{InsightRun, ModelFit, SegmentSummary};
use loyalty_store::Store;
use std::fmt::Write;

/// Everything the page shows, read from the store.
pub struct ReportData {
    pub generated_at: Timestamp,
    pub run: Option<InsightRun>,
    pub config: InsightConfig,
    pub summary: RunSummary,
    pub segments: Vec<(Scheme, Vec<SegmentSummary>)>,
    pub models: Vec<ModelFit>,
    pub kpis: Vec<KpiPeriod>,
    pub ledger: LedgerCheck,
    pub rewards: crate::rewards_section::RewardsData,
    /// The paid-membership report over the KPIs' months, or why it could not be made.
    pub memberships: Result<crate::membership::view::MembershipReport, String>,
}

/// Reads the latest run and the last twelve months of KPIs.
pub async fn gather(store: &dyn Store, program: &Program, now: Timestamp) -> anyhow::Result<ReportData> {
    let run = store.latest_insight_run().await?;
    let mut segments = Vec::new();
    let mut models = Vec::new();
    let (mut config, mut summary) = (InsightConfig::default(), RunSummary::default());
    if let Some(r) = &run {
        config = serde_json::from_str(&r.config).unwrap_or_default();
        summary = serde_json::from_str(&r.summary).unwrap_or_default();
        for scheme in Scheme::ALL {
            segments.push((scheme, store.segment_summaries(r, scheme.as_str()).await?));
        }
        models = store.insight_models(r).await?;
    }
    let to = now.to_zoned(program.tz.clone()).date();
    let from = kpi::default_from(to, Granularity::Month);
    let periods = kpi::periods(from, to, Granularity::Month, &program.tz).map_err(|e| anyhow::anyhow!(e.reason))?;
    let (kpis, ledger) = kpi::compute(store, program, &periods, now).await?;
    let rewards = crate::rewards_section::gather(store, now).await?;
    let memberships = match crate::membership::ReportRange::new(program, from, to, None) {
        Ok(range) => Ok(crate::membership::compute(store, program, &range, now).await?),
        Err(e) => Err(format!("{}: {}", e.field, e.reason)),
    };
    Ok(ReportData { generated_at: now, run, config, summary, segments, models, kpis, ledger, rewards, memberships })
}

/// Money in major units for labels (¥1,234.56 → "1234.56").
fn money(minor: f64, program: &Program) -> f64 {
    minor / program.minor_per_unit as f64
}

fn segment_bars(data: &ReportData, scheme: Scheme, value: impl Fn(&SegmentSummary) -> f64) -> Vec<(String, f64)> {
    let Some((_, rows)) = data.segments.iter().find(|(s, _)| *s == scheme) else { return Vec::new() };
    scheme
        .segments()
        .into_iter()
        .filter_map(|(code, label)| {
            rows.iter().find(|r| r.segment == code).map(|r| (format!("{label} {code}"), value(r)))
        })
        .collect()
}

/// One chart of the page: an anchor id, a caption and the SVG.
pub type Chart = (&'static str, String, String);

/// The charts, in page order.
pub fn charts(data: &ReportData, program: &Program) -> Vec<Chart> {
    let mut out = segment_charts(data, program);
    out.extend(kpi_charts(data, program));
    out.push((
        "p-alive",
        "P(alive) of buyers (BG/NBD)".into(),
        svg::histogram("P(alive) histogram", &data.summary.p_alive_histogram, 0.0, 1.0),
    ));
    out
}

fn segment_charts(data: &ReportData, program: &Program) -> Vec<Chart> {
    let tiers: Vec<(String, f64)> = data
        .kpis
        .last()
        .map(|k| k.members_by_tier.iter().map(|(t, n)| (t.clone(), *n as f64)).collect())
        .unwrap_or_default();
    let scheme = data.config.scheme;
    let other = if scheme == Scheme::Value { Scheme::Score } else { Scheme::Value };
    let members = |s: Scheme| segment_bars(data, s, |r| r.members as f64);
    let value = segment_bars(data, scheme, |r| money(r.monetary_minor as f64, program));
    let currency = &program.file.currency;
    vec![
        ("tier-mix", "Members by tier (current tiers)".into(), svg::donut_chart("Tier mix", &tiers)),
        (
            "segment-sizes",
            format!("RFM segments ({}): members", scheme.as_str()),
            svg::bar_chart("Members per segment", &members(scheme), svg::compact),
        ),
        (
            "segment-value",
            format!("RFM segments ({}): paid minus refunded in the window, {currency}", scheme.as_str()),
            svg::bar_chart("Value per segment", &value, svg::compact),
        ),
        (
            "segment-sizes-other",
            format!("RFM segments ({}): members", other.as_str()),
            svg::bar_chart("Members per segment", &members(other), svg::compact),
        ),
        (
            "lifecycle",
            "Lifecycle stages".into(),
            svg::bar_chart("Members per stage", &members(Scheme::Lifecycle), svg::compact),
        ),
    ]
}

fn kpi_charts(data: &ReportData, program: &Program) -> Vec<Chart> {
    let cats: Vec<String> = data.kpis.iter().map(|k| k.period.clone()).collect();
    let series = |name: &str, f: &dyn Fn(&KpiPeriod) -> f64| Series {
        name: name.into(),
        values: data.kpis.iter().map(f).collect(),
    };
    let members = [
        series("new", &|k| k.new_members as f64),
        series("buyers", &|k| k.buyers as f64),
        series("active 30d", &|k| k.active_30d as f64),
        series("active 90d", &|k| k.active_90d as f64),
    ];
    let rates = [
        series("repurchase", &|k| 100.0 * k.repurchase_rate.unwrap_or(0.0)),
        series("churn", &|k| 100.0 * k.churn_rate.unwrap_or(0.0)),
    ];
    let aov = [series("AOV", &|k| money(k.average_order_value_minor.unwrap_or(0) as f64, program))];
    let points = [
        series("issued", &|k| k.points.issued as f64),
        series("redeemed", &|k| k.points.redeemed as f64),
        series("expired", &|k| k.points.expired as f64),
    ];
    vec![
        (
            "kpi-members",
            "Monthly members: new, buyers, active in 30 and 90 days".into(),
            svg::line_chart("Members", &cats, &members),
        ),
        ("kpi-rates", "Monthly repurchase and churn rates, %".into(), svg::line_chart("Rates (%)", &cats, &rates)),
        (
            "kpi-aov",
            format!("Monthly average order value, {}", program.file.currency),
            svg::line_chart("Average order value", &cats, &aov),
        ),
        (
            "points",
            "Points issued, redeemed and expired per month".into(),
            svg::column_chart("Points flows", &cats, &points),
        ),
    ]
}

/// An HTML table: a header row, then one row per item.
pub(crate) fn table(head: &[&str], rows: impl Iterator<Item = Vec<String>>) -> String {
    let mut s = String::from("<table><tr>");
    for h in head {
        let _ = write!(s, "<th>{}</th>", svg::escape(h));
    }
    s.push_str("</tr>");
    for row in rows {
        s.push_str("<tr>");
        for cell in row {
            let _ = write!(s, "<td>{}</td>", svg::escape(&cell));
        }
        s.push_str("</tr>");
    }
    s.push_str("</table>");
    s
}

fn models_table(data: &ReportData) -> String {
    let head = ["model", "parameters", "log-likelihood", "iterations", "converged", "members"];
    table(
        &head,
        data.models.iter().map(|m| {
            vec![
                m.model.clone(),
                m.params.clone().unwrap_or_else(|| format!("not fitted: {}", m.detail)),
                m.log_likelihood.map(|v| format!("{v:.2}")).unwrap_or_default(),
                m.iterations.to_string(),
                m.converged.to_string(),
                m.members.to_string(),
            ]
        }),
    )
}

fn kpi_table(data: &ReportData, program: &Program) -> String {
    let pct = |v: Option<f64>| v.map(|v| format!("{:.1}%", 100.0 * v)).unwrap_or_else(|| "—".into());
    let amount = |minor: Option<i64>| minor.map(|v| format!("{:.2}", money(v as f64, program))).unwrap_or("—".into());
    let head = [
        "period",
        "members",
        "new",
        "buyers",
        "orders",
        "repurchase",
        "churn",
        "AOV",
        "points issued",
        "redeemed",
        "expired",
        "outstanding",
        "liability",
        "breakage",
        "refunds",
    ];
    table(
        &head,
        data.kpis.iter().map(|k| {
            let p = &k.points;
            vec![
                k.period.clone(),
                k.members_total.to_string(),
                k.new_members.to_string(),
                k.buyers.to_string(),
                k.orders.to_string(),
                pct(k.repurchase_rate),
                pct(k.churn_rate),
                amount(k.average_order_value_minor),
                p.issued.to_string(),
                p.redeemed.to_string(),
                p.expired.to_string(),
                p.outstanding.to_string(),
                amount(Some(k.liability_minor)),
                pct(k.breakage_rate),
                k.refunds.to_string(),
            ]
        }),
    )
}

const STYLE: &str = concat!(
    "body{font-family:system-ui,'PingFang SC','Microsoft YaHei','Noto Sans CJK SC','WenQuanYi Zen Hei',sans-serif;margin:24px;color:#222;max-width:1400px}",
    "h1{font-size:22px}h2{font-size:17px;margin-top:28px}",
    ".grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(560px,1fr));gap:18px}",
    "figure{margin:0;border:1px solid #e3e3e3;border-radius:6px;padding:10px;background:#fff}",
    "figcaption{font-size:13px;color:#555;margin-bottom:6px}svg{width:100%;height:auto}",
    "table{border-collapse:collapse;font-size:12px;margin:8px 0}",
    "td,th{border:1px solid #ddd;padding:3px 6px;text-align:right}th{background:#f4f4f4}h3{font-size:15px;margin-top:18px}",
    ".ok{color:#0a7d32}.bad{color:#b00020}"
);

/// The whole page.
pub fn render(data: &ReportData, program: &Program) -> String {
    let tz = &program.tz;
    let run = match &data.run {
        Some(r) => format!(
            "Insight run {} as of {} over {} days: {} members, {} buyers.",
            r.run_id,
            r.at.to_zoned(tz.clone()).strftime("%Y-%m-%d %H:%M %Z"),
            r.window_days,
            r.members,
            r.buyers
        ),
        None => "No insight run yet: run <code>loyalty insight</code> for segments and models.".into(),
    };
    let l = &data.ledger;
    let check = if l.consistent { "<span class=\"ok\">equal</span>" } else { "<span class=\"bad\">NOT equal</span>" };
    let generated = data.generated_at.to_zoned(tz.clone()).strftime("%Y-%m-%d %H:%M %Z");
    let mut html = format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Loyalty report</title>\
         <style>{STYLE}</style></head><body><h1>Loyalty member report</h1><p>Generated {generated} · {run}</p>"
    );
    let _ = write!(
        html,
        "<p>Points outstanding by the ledger: {} · by member balances: {} ({check}); liability {:.2} {}.</p>",
        l.ledger_outstanding,
        l.balances_outstanding,
        money(program.points_value_minor(loyalty_core::Points::new(l.ledger_outstanding.max(0))).get() as f64, program),
        program.file.currency
    );
    html.push_str("<div class=\"grid\">");
    for (id, caption, chart) in charts(data, program) {
        let _ = write!(html, "<figure id=\"{id}\"><figcaption>{}</figcaption>{chart}</figure>", svg::escape(&caption));
    }
    html.push_str("</div><h2>Monthly KPIs</h2>");
    html.push_str(&kpi_table(data, program));
    html.push_str(&crate::membership_section::render(
        &data.kpis,
        data.memberships.as_ref().map_err(String::as_str),
        program,
    ));
    html.push_str(&crate::rewards_section::render(&data.rewards, program));
    html.push_str("<h2>Purchase and spend models</h2>");
    html.push_str(&models_table(data));
    html.push_str(
        "<p>Definitions: docs/METRICS.md (KPIs) and docs/INSIGHT.md (RFM, segments, models).</p></body></html>\n",
    );
    html
}
