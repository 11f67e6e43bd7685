//! The report's section on paid membership: per month the paid members, new paid members, fees
//! and the benefits plans gave (the KPIs), then per plan over the same months the paid-membership
//! report: conversion, renewal, incremental spend and ROI.

use crate::kpi::KpiPeriod;
use crate::membership::view::{Figures, MembershipReport};
use crate::report::table;
use loyalty_core::Program;
use std::fmt::Write;

fn money(minor: i64, program: &Program) -> String {
    format!("{:.2}", minor as f64 / program.minor_per_unit as f64)
}

fn rate(r: Option<f64>) -> String {
    r.map_or_else(|| "—".into(), |r| format!("{:.1}%", 100.0 * r))
}

/// One row of the per-plan table.
fn plan_row(name: String, f: &Figures, program: &Program) -> Vec<String> {
    let i = &f.incremental;
    vec![
        name,
        f.members.paid.to_string(),
        f.members.joined.to_string(),
        f.members.renewed.to_string(),
        f.members.lapsed.to_string(),
        rate(f.trial_conversion.rate),
        rate(f.renewal.rate),
        money(f.fees_minor, program),
        money(f.benefit_cost_minor, program),
        format!(
            "{} ({} of {} joiners, {} controls)",
            money(i.incremental_spend_minor, program),
            i.joiners_used,
            i.joiners_in_window,
            i.controls_used
        ),
        f.roi.and_then(|r| r.roi).map_or_else(|| "—".into(), |r| format!("{r:.2}")),
    ]
}

/// The section's HTML; `report` is `None` when it could not be made (the page says why).
pub fn render(kpis: &[KpiPeriod], report: Result<&MembershipReport, &str>, program: &Program) -> String {
    let mut html = String::from("<h2>Paid membership</h2>");
    if program.file.plans.is_empty() && kpis.iter().all(|k| k.paid_members == 0 && k.membership_fees_minor == 0) {
        html.push_str("<p>The programme has no paid plans.</p>");
        return html;
    }
    let head = ["period", "paid members", "new paid", "fees", "plan benefit cost"];
    html.push_str(&table(
        &head,
        kpis.iter().map(|k| {
            vec![
                k.period.clone(),
                k.paid_members.to_string(),
                k.new_paid_members.to_string(),
                money(k.membership_fees_minor, program),
                money(k.plan_benefit_cost_minor, program),
            ]
        }),
    ));
    match report {
        Err(why) => {
            let _ = write!(html, "<p>The per-plan report could not be made: {}</p>", crate::svg::escape(why));
        }
        Ok(r) => {
            let _ = write!(html, "<h3>Does it pay? {} to {}, gross margin {}%</h3>", r.from, r.to, r.margin_percent);
            let head = [
                "plan",
                "paid",
                "joined",
                "renewed",
                "lapsed",
                "trial conversion",
                "renewal",
                "fees",
                "benefit cost",
                "incremental spend",
                "ROI",
            ];
            let mut rows: Vec<Vec<String>> = r
                .plans
                .iter()
                .map(|p| plan_row(p.name.clone().unwrap_or_else(|| p.plan.clone()), &p.figures, program))
                .collect();
            rows.push(plan_row("all plans".into(), &r.total, program));
            html.push_str(&table(&head, rows.into_iter()));
            let _ = write!(html, "<p>{}</p>", crate::svg::escape(&r.total.incremental.method));
        }
    }
    html
}
