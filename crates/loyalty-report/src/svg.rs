//! Charts as standalone SVG strings: no script, no external asset, sized by `viewBox` so they
//! scale with their container. The report embeds them; an operator console can serve the same
//! strings. Each function takes plain labels and numbers, so any data can be drawn.

use std::fmt::Write;

/// Colours for series and slices, in order (colour-blind-safe Okabe–Ito).
pub const PALETTE: [&str; 8] = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000"];

const W: f64 = 640.0;
const FONT: &str = "font-family=\"system-ui, sans-serif\" font-size=\"12\"";

/// One named series of values, one per category.
#[derive(Debug, Clone)]
pub struct Series {
    pub name: String,
    pub values: Vec<f64>,
}

/// Escapes text for SVG/XML.
pub fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// A compact number: 1234567 → 1.23M, 0.4567 → 0.457.
pub fn compact(v: f64) -> String {
    let a = v.abs();
    let (scaled, suffix) = match a {
        a if a >= 1e9 => (v / 1e9, "B"),
        a if a >= 1e6 => (v / 1e6, "M"),
        a if a >= 1e4 => (v / 1e3, "k"),
        _ => (v, ""),
    };
    if suffix.is_empty() && a < 10.0 && v.fract() != 0.0 {
        format!("{v:.3}")
    } else if suffix.is_empty() {
        format!("{v:.0}")
    } else {
        format!("{scaled:.2}{suffix}")
    }
}

/// A "nice" upper bound for an axis (1, 2 or 5 × 10ⁿ), at least `max`.
fn nice_max(max: f64) -> f64 {
    if !(max.is_finite() && max > 0.0) {
        return 1.0;
    }
    let step = 10f64.powf(max.log10().floor());
    [1.0, 2.0, 5.0, 10.0].iter().map(|m| m * step).find(|v| *v >= max).unwrap_or(10.0 * step)
}

fn open(title: &str, height: f64) -> String {
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {W} {height}\" role=\"img\" \
         aria-label=\"{t}\" {FONT}>",
        t = escape(title)
    );
    let _ = write!(s, "<title>{}</title>", escape(title));
    let _ = write!(s, "<text x=\"8\" y=\"18\" font-size=\"14\" font-weight=\"600\">{}</text>", escape(title));
    s
}

fn empty(title: &str) -> String {
    let mut s = open(title, 80.0);
    s.push_str("<text x=\"8\" y=\"50\" fill=\"#666\">no data yet</text></svg>");
    s
}

fn legend(s: &mut String, names: &[&str], y: f64) {
    let mut x = 60.0;
    for (i, n) in names.iter().enumerate() {
        let c = PALETTE[i % PALETTE.len()];
        let _ = write!(s, "<rect x=\"{x}\" y=\"{}\" width=\"10\" height=\"10\" fill=\"{c}\"/>", y - 9.0);
        let _ = write!(s, "<text x=\"{}\" y=\"{y}\">{}</text>", x + 14.0, escape(n));
        // As wide as the name is drawn (CJK names are twice as wide as Latin ones).
        x += 24.0 + text_width(n);
    }
}

/// Left axis with gridlines for a plot area `[top, bottom]` and values up to `max`.
fn y_axis(s: &mut String, max: f64, top: f64, bottom: f64) {
    for i in 0..=4 {
        let v = max * f64::from(i) / 4.0;
        let y = bottom - (bottom - top) * f64::from(i) / 4.0;
        let _ = write!(s, "<line x1=\"56\" x2=\"{}\" y1=\"{y}\" y2=\"{y}\" stroke=\"#ddd\"/>", W - 8.0);
        let _ = write!(s, "<text x=\"52\" y=\"{}\" text-anchor=\"end\">{}</text>", y + 4.0, compact(v));
    }
}

/// Approximate rendered width of `text` at 12 px: wide (CJK) characters count double.
pub fn text_width(text: &str) -> f64 {
    text.chars().map(|c| if (c as u32) < 0x2E80 { 6.8 } else { 12.5 }).sum()
}

/// Category labels under the plot, thinned so that they never overlap.
fn x_labels(s: &mut String, categories: &[String], x_of: impl Fn(usize) -> f64, y: f64) {
    let widest = categories.iter().map(|c| text_width(c)).fold(0.0, f64::max) + 8.0;
    let room = (W - 64.0) / categories.len().max(1) as f64;
    let every = ((widest / room).ceil() as usize).max(1);
    for (i, c) in categories.iter().enumerate().filter(|(i, _)| i % every == 0) {
        let _ = write!(s, "<text x=\"{}\" y=\"{y}\" text-anchor=\"middle\">{}</text>", x_of(i), escape(c));
    }
}

/// Horizontal bars, one per label, with the value written after each bar.
pub fn bar_chart(title: &str, bars: &[(String, f64)], fmt: fn(f64) -> String) -> String {
    if bars.is_empty() {
        return empty(title);
    }
    let height = 40.0 + 24.0 * bars.len() as f64;
    let max = bars.iter().map(|b| b.1).fold(0.0, f64::max);
    // The label column is as wide as the longest label, within reason.
    let left = bars.iter().map(|(l, _)| text_width(l)).fold(40.0, f64::max).min(W / 2.0) + 14.0;
    let scale = if max > 0.0 { (W - left - 70.0) / max } else { 0.0 };
    let mut s = open(title, height);
    for (i, (label, v)) in bars.iter().enumerate() {
        let y = 32.0 + 24.0 * i as f64;
        let width = (v.max(0.0) * scale).max(0.0);
        let c = PALETTE[i % PALETTE.len()];
        let _ = write!(s, "<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>", left - 6.0, y + 13.0, escape(label));
        let _ = write!(s, "<rect x=\"{left}\" y=\"{y}\" width=\"{width:.1}\" height=\"18\" fill=\"{c}\"/>");
        let _ = write!(s, "<text x=\"{:.1}\" y=\"{}\">{}</text>", left + 4.0 + width, y + 13.0, escape(&fmt(*v)));
    }
    s.push_str("</svg>");
    s
}

/// Grouped vertical columns: for each category one column per series.
pub fn column_chart(title: &str, categories: &[String], series: &[Series]) -> String {
    if categories.is_empty() || series.is_empty() {
        return empty(title);
    }
    let (top, bottom, height) = (40.0, 250.0, 290.0);
    let max = nice_max(series.iter().flat_map(|s| s.values.iter().copied()).fold(0.0, f64::max));
    let band = (W - 64.0) / categories.len() as f64;
    let bar = (band * 0.8) / series.len() as f64;
    let mut s = open(title, height);
    y_axis(&mut s, max, top, bottom);
    for (j, ser) in series.iter().enumerate() {
        let c = PALETTE[j % PALETTE.len()];
        for (i, v) in ser.values.iter().enumerate() {
            let h = (v.max(0.0) / max) * (bottom - top);
            let x = 60.0 + band * i as f64 + band * 0.1 + bar * j as f64;
            let (y, name, value) = (bottom - h, escape(&ser.name), compact(*v));
            let _ = write!(
                s,
                "<rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{bar:.1}\" height=\"{h:.1}\" fill=\"{c}\">\
                 <title>{name}: {value}</title></rect>"
            );
        }
    }
    x_labels(&mut s, categories, |i| 60.0 + band * (i as f64 + 0.5), bottom + 16.0);
    let names: Vec<&str> = series.iter().map(|s| s.name.as_str()).collect();
    legend(&mut s, &names, height - 6.0);
    s.push_str("</svg>");
    s
}

/// Lines over categories, one per series, sharing the left axis.
pub fn line_chart(title: &str, categories: &[String], series: &[Series]) -> String {
    if categories.is_empty() || series.is_empty() {
        return empty(title);
    }
    let (top, bottom, height) = (40.0, 250.0, 290.0);
    let max = nice_max(series.iter().flat_map(|s| s.values.iter().copied()).fold(0.0, f64::max));
    let step = if categories.len() > 1 { (W - 80.0) / (categories.len() - 1) as f64 } else { 0.0 };
    let x_of = |i: usize| 64.0 + step * i as f64;
    let mut s = open(title, height);
    y_axis(&mut s, max, top, bottom);
    for (j, ser) in series.iter().enumerate() {
        let c = PALETTE[j % PALETTE.len()];
        let pts: Vec<String> = ser
            .values
            .iter()
            .enumerate()
            .map(|(i, v)| format!("{:.1},{:.1}", x_of(i), bottom - (v.max(0.0) / max) * (bottom - top)))
            .collect();
        let _ = write!(s, "<polyline fill=\"none\" stroke=\"{c}\" stroke-width=\"2\" points=\"{}\"/>", pts.join(" "));
        for p in &pts {
            let (x, y) = p.split_once(',').unwrap_or(("0", "0"));
            let _ = write!(s, "<circle cx=\"{x}\" cy=\"{y}\" r=\"3\" fill=\"{c}\"/>");
        }
    }
    x_labels(&mut s, categories, x_of, bottom + 16.0);
    let names: Vec<&str> = series.iter().map(|s| s.name.as_str()).collect();
    legend(&mut s, &names, height - 6.0);
    s.push_str("</svg>");
    s
}

/// A donut of shares with a legend giving each slice's count and percentage.
pub fn donut_chart(title: &str, slices: &[(String, f64)]) -> String {
    let total: f64 = slices.iter().map(|s| s.1.max(0.0)).sum();
    if total <= 0.0 {
        return empty(title);
    }
    let height = (60.0 + 22.0 * slices.len() as f64).max(240.0);
    let (cx, cy, r) = (130.0, 135.0, 90.0);
    let mut s = open(title, height);
    let mut angle = -std::f64::consts::FRAC_PI_2;
    for (i, (label, v)) in slices.iter().enumerate() {
        let c = PALETTE[i % PALETTE.len()];
        let share = v.max(0.0) / total;
        if share >= 0.999_999 {
            let _ = write!(s, "<circle cx=\"{cx}\" cy=\"{cy}\" r=\"{r}\" fill=\"{c}\"/>");
        } else if share > 0.0 {
            let end = angle + share * std::f64::consts::TAU;
            let (x0, y0, x1, y1) = (cx + r * angle.cos(), cy + r * angle.sin(), cx + r * end.cos(), cy + r * end.sin());
            let large = u8::from(share > 0.5);
            let _ = write!(
                s,
                "<path d=\"M{cx},{cy} L{x0:.2},{y0:.2} A{r},{r} 0 {large} 1 {x1:.2},{y1:.2} Z\" fill=\"{c}\"/>"
            );
            angle = end;
        }
        let y = 48.0 + 22.0 * i as f64;
        let _ = write!(s, "<rect x=\"260\" y=\"{}\" width=\"12\" height=\"12\" fill=\"{c}\"/>", y - 10.0);
        let _ =
            write!(s, "<text x=\"278\" y=\"{y}\">{} — {} ({:.1}%)</text>", escape(label), compact(*v), share * 100.0);
    }
    let _ = write!(s, "<circle cx=\"{cx}\" cy=\"{cy}\" r=\"{}\" fill=\"#fff\"/>", r * 0.55);
    let _ = write!(
        s,
        "<text x=\"{cx}\" y=\"{}\" text-anchor=\"middle\" font-size=\"16\">{}</text>",
        cy + 5.0,
        compact(total)
    );
    s.push_str("</svg>");
    s
}

/// Counts in equal bins over `[lo, hi]`.
pub fn histogram(title: &str, counts: &[u64], lo: f64, hi: f64) -> String {
    if counts.iter().all(|c| *c == 0) {
        return empty(title);
    }
    let (top, bottom, height) = (40.0, 250.0, 276.0);
    let max = nice_max(counts.iter().copied().max().unwrap_or(0) as f64);
    let band = (W - 64.0) / counts.len() as f64;
    let mut s = open(title, height);
    y_axis(&mut s, max, top, bottom);
    for (i, c) in counts.iter().enumerate() {
        let h = (*c as f64 / max) * (bottom - top);
        let (from, to) =
            (lo + (hi - lo) * i as f64 / counts.len() as f64, lo + (hi - lo) * (i + 1) as f64 / counts.len() as f64);
        let (x, y, width, fill) = (60.0 + band * i as f64 + 1.0, bottom - h, band - 2.0, PALETTE[0]);
        let _ = write!(
            s,
            "<rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{width:.1}\" height=\"{h:.1}\" fill=\"{fill}\">\
             <title>{from:.2}–{to:.2}: {c}</title></rect>"
        );
    }
    for i in 0..=4 {
        let v = lo + (hi - lo) * f64::from(i) / 4.0;
        let anchor = ["start", "middle", "middle", "middle", "end"][i as usize];
        let _ = write!(
            s,
            "<text x=\"{:.1}\" y=\"{}\" text-anchor=\"{anchor}\">{v:.2}</text>",
            60.0 + (W - 64.0) * f64::from(i) / 4.0,
            bottom + 16.0
        );
    }
    s.push_str("</svg>");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charts_are_standalone_svg_and_escape_their_text() {
        let bars = vec![("<a&b>".to_owned(), 3.0), ("c".to_owned(), 1.0)];
        let svg = bar_chart("Sizes", &bars, compact);
        assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\"") && svg.ends_with("</svg>"));
        assert!(svg.contains("&lt;a&amp;b&gt;") && !svg.contains("<a&b>"));
        let cats = vec!["2026-01".to_owned(), "2026-02".to_owned()];
        let series = vec![Series { name: "issued".into(), values: vec![10.0, 20.0] }];
        assert!(line_chart("L", &cats, &series).contains("<polyline"));
        assert!(column_chart("C", &cats, &series).matches("<rect").count() >= 2);
        assert!(donut_chart("D", &bars).contains("<path"));
        assert!(histogram("H", &[1, 2, 3], 0.0, 1.0).contains("<rect"));
        assert!(histogram("H", &[0, 0], 0.0, 1.0).contains("no data yet"));
        assert_eq!((compact(1_234_567.0), compact(0.5), compact(42.0)), ("1.23M".into(), "0.500".into(), "42".into()));
        assert_eq!(nice_max(730.0), 1000.0);
    }
}
