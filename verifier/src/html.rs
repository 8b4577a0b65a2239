//! The printable audit report (`--report FILE.html`): one self-contained page, no external
//! assets, the same figures as the summary, with inline-SVG bar charts. Labels are Chinese
//! first, then English. Every text from the log is escaped: the log is untrusted input.

use crate::format::{programme_zh, thousands, yuan};
use crate::limits::FUNDS_LISTED_MAX;
use crate::report::{KeySource, Report, Violation};
use std::fmt::Write as _;

/// Bars in the fund chart (the table lists more).
const FUND_BARS_MAX: usize = 30;
const CHART_WIDTH_PX: u64 = 720;
const CHART_HEIGHT_PX: u64 = 260;
/// Colours of the three series (received, allocated, disbursed), dark enough to print.
const SERIES_COLOURS: [&str; 3] = ["#2b6cb0", "#d69e2e", "#2f855a"];

pub use ledger_core::encoding::escape_markup as escape;

const STYLE: &str = r#"
body { font-family: "Noto Sans CJK SC", "PingFang SC", "Microsoft YaHei", sans-serif; margin: 2em; color: #1a202c; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; }
h2 { font-size: 1.2em; border-bottom: 1px solid #a0aec0; padding-bottom: 0.2em; margin-top: 1.6em; }
table { border-collapse: collapse; margin: 0.5em 0; }
th, td { border: 1px solid #cbd5e0; padding: 0.25em 0.6em; text-align: right; }
th { background: #edf2f7; }
td.l, th.l { text-align: left; }
.en { color: #4a5568; font-size: 0.85em; }
.ok { background: #c6f6d5; border: 2px solid #2f855a; padding: 0.6em 1em; font-weight: bold; }
.bad { background: #fed7d7; border: 2px solid #c53030; padding: 0.6em 1em; font-weight: bold; }
.warn { background: #fefcbf; border: 1px solid #b7791f; padding: 0.4em 1em; margin: 0.4em 0; }
pre { background: #f7fafc; border: 1px solid #e2e8f0; padding: 0.5em; white-space: pre-wrap; word-break: break-all; }
code { word-break: break-all; }
code.id { word-break: normal; white-space: nowrap; }
@media print { body { margin: 1cm; } h2 { page-break-after: avoid; } table, svg { page-break-inside: avoid; } }
"#;

fn label(zh: &str, en: &str) -> String {
    format!("{} <span class=\"en\">{}</span>", escape(zh), escape(en))
}

fn violation_html(v: &Violation, out: &mut String) {
    let place = match (v.seq, v.size) {
        (Some(seq), _) => format!("seq {seq}"),
        (None, Some(size)) => format!("tree size {size}"),
        _ => String::new(),
    };
    let _ = write!(
        out,
        "<div class=\"bad\">违规 Violation {} — rule <code>{}</code> ({})</div><p>{}</p>",
        escape(&place),
        escape(&v.rule),
        escape(&v.code),
        escape(&v.message)
    );
    if v.id.is_some() || v.kind.is_some() {
        let _ = write!(
            out,
            "<p>{}: <code>{}</code>, {}: <code>{}</code></p>",
            label("条目", "entry id"),
            escape(v.id.as_deref().unwrap_or("?")),
            label("类型", "kind"),
            escape(v.kind.as_deref().unwrap_or("?"))
        );
    }
    if let Some(evidence) = &v.evidence {
        let text = serde_json::to_string_pretty(evidence).unwrap_or_default();
        let _ = write!(out, "<p>{}</p><pre>{}</pre>", label("证据", "Evidence"), escape(&text));
    }
}

/// Grouped vertical bars: one group per programme, one bar per series.
fn programme_chart(report: &Report) -> String {
    let groups: Vec<(&String, [u64; 3])> = report
        .programmes
        .iter()
        .map(|(name, p)| {
            (
                name,
                [
                    p.received_fen,
                    p.allocated_fen.saturating_sub(p.revoked_fen),
                    p.disbursed_fen.saturating_sub(p.returned_fen),
                ],
            )
        })
        .collect();
    let max = groups.iter().flat_map(|(_, v)| v.iter().copied()).max().unwrap_or(0).max(1);
    let (top, bottom, left) = (30u64, 50u64, 10u64);
    let plot_h = CHART_HEIGHT_PX - top - bottom;
    let n = groups.len().max(1) as u64;
    let group_w = (CHART_WIDTH_PX - left) / n;
    let bar_w = (group_w.saturating_sub(16) / 3).max(4);
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{CHART_WIDTH_PX}\" height=\"{CHART_HEIGHT_PX}\" role=\"img\" aria-label=\"by programme\">"
    );
    let names = [("收到", "received"), ("拨付", "allocated"), ("支出", "disbursed")];
    for (i, (zh, en)) in names.iter().enumerate() {
        let x = left + i as u64 * 150;
        let _ = write!(
            svg,
            "<rect x=\"{x}\" y=\"6\" width=\"12\" height=\"12\" fill=\"{}\"/><text x=\"{}\" y=\"16\" font-size=\"12\">{zh} {en}</text>",
            SERIES_COLOURS[i],
            x + 16
        );
    }
    let _ = write!(
        svg,
        "<text x=\"{}\" y=\"16\" font-size=\"11\" text-anchor=\"end\">max {}</text>",
        CHART_WIDTH_PX - 4,
        escape(&yuan(max))
    );
    let base_y = top + plot_h;
    let _ = write!(
        svg,
        "<line x1=\"{left}\" y1=\"{base_y}\" x2=\"{CHART_WIDTH_PX}\" y2=\"{base_y}\" stroke=\"#4a5568\"/>"
    );
    for (g, (name, values)) in groups.iter().enumerate() {
        let gx = left + g as u64 * group_w + 8;
        for (i, v) in values.iter().enumerate() {
            let h = (u128::from(*v) * u128::from(plot_h) / u128::from(max)) as u64;
            let _ = write!(
                svg,
                "<rect x=\"{}\" y=\"{}\" width=\"{bar_w}\" height=\"{h}\" fill=\"{}\"><title>{}</title></rect>",
                gx + i as u64 * bar_w,
                base_y - h,
                SERIES_COLOURS[i],
                escape(&yuan(*v))
            );
        }
        let cx = gx + bar_w * 3 / 2;
        let _ = write!(
            svg,
            "<text x=\"{cx}\" y=\"{}\" font-size=\"12\" text-anchor=\"middle\">{}</text><text x=\"{cx}\" y=\"{}\" font-size=\"10\" text-anchor=\"middle\" fill=\"#4a5568\">{}</text>",
            base_y + 16,
            programme_zh(name),
            base_y + 30,
            escape(name)
        );
    }
    svg.push_str("</svg>");
    svg
}

/// Horizontal bars of fund balances, largest first.
fn fund_chart(report: &Report) -> String {
    let mut funds: Vec<(&String, u64)> = report.funds.iter().map(|(id, f)| (id, f.balance_fen)).collect();
    funds.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    funds.truncate(FUND_BARS_MAX);
    let max = funds.iter().map(|f| f.1).max().unwrap_or(0).max(1);
    let row_h = 20u64;
    let label_w = 200u64;
    let value_w = 130u64;
    let bar_max = CHART_WIDTH_PX - label_w - value_w;
    let height = row_h * funds.len() as u64 + 10;
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{CHART_WIDTH_PX}\" height=\"{height}\" role=\"img\" aria-label=\"fund balances\">"
    );
    for (i, (id, fen)) in funds.iter().enumerate() {
        let y = 5 + i as u64 * row_h;
        let w = (u128::from(*fen) * u128::from(bar_max) / u128::from(max)) as u64;
        let _ = write!(
            svg,
            "<text x=\"{}\" y=\"{}\" font-size=\"12\" text-anchor=\"end\">{}</text><rect x=\"{label_w}\" y=\"{}\" width=\"{w}\" height=\"{}\" fill=\"{}\"/><text x=\"{}\" y=\"{}\" font-size=\"12\">{}</text>",
            label_w - 6,
            y + 13,
            escape(&crate::format::clip(id, 28)),
            y + 2,
            row_h - 6,
            SERIES_COLOURS[0],
            label_w + w + 6,
            y + 13,
            escape(&yuan(*fen))
        );
    }
    svg.push_str("</svg>");
    svg
}

/// One table row; the first `left` cells are text (left-aligned), the rest figures.
fn row(out: &mut String, cells: &[String], left: usize) {
    out.push_str("<tr>");
    for (i, c) in cells.iter().enumerate() {
        let class = if i < left { " class=\"l\"" } else { "" };
        let _ = write!(out, "<td{class}>{c}</td>");
    }
    out.push_str("</tr>");
}

fn header(out: &mut String, cells: &[(&str, &str)], left: usize) {
    out.push_str("<tr>");
    for (i, (zh, en)) in cells.iter().enumerate() {
        let class = if i < left { " class=\"l\"" } else { "" };
        let _ = write!(out, "<th{class}>{}</th>", label(zh, en));
    }
    out.push_str("</tr>");
}

/// The whole page.
pub fn render(report: &Report) -> String {
    let mut o = String::new();
    let title = report.log.as_ref().map(|l| l.name.clone()).unwrap_or_else(|| "charity ledger".into());
    let _ = write!(
        o,
        "<!DOCTYPE html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\"><title>核查报告 Audit report — {}</title><style>{STYLE}</style></head><body>",
        escape(&title)
    );
    let _ = write!(
        o,
        "<h1>{} — {}</h1>",
        label("慈善账本核查报告", "Charity ledger audit report"),
        escape(&title)
    );
    let verdict = match report.exit_code() {
        0 => ("ok", "全部检查通过", "All checks hold"),
        1 => ("bad", "账本违反规则", "The ledger breaks a rule"),
        _ => ("bad", "部分检查未能完成", "Some checks could not be made"),
    };
    let _ = write!(o, "<div class=\"{}\">{} — {}</div>", verdict.0, verdict.1, verdict.2);
    for w in &report.warnings {
        let _ = write!(o, "<div class=\"warn\">{}</div>", escape(w));
    }
    for u in &report.unchecked {
        let _ = write!(o, "<div class=\"warn\">未核查 Not checked: {}</div>", escape(u));
    }

    o.push_str("<h2>账本 <span class=\"en\">The log</span></h2><table>");
    let mut facts: Vec<(String, String)> = vec![(label("来源", "Source"), escape(&report.source))];
    if let Some(log) = &report.log {
        facts.push((label("名称", "Origin"), escape(&log.origin)));
        let source = match log.log_key_source {
            Some(KeySource::Pinned) => "（审计人指定 pinned with --log-key）",
            Some(_) => "（取自账本自身，未经指定 taken from the log itself, NOT pinned）",
            None => "",
        };
        facts.push((
            label("日志公钥", "Log key"),
            format!("<code>{}</code> {}", escape(log.log_key.as_deref().unwrap_or("-")), escape(source)),
        ));
        facts.push((label("双人审批门槛", "Dual control from"), escape(&yuan(log.dual_control_fen))));
        facts.push((label("最低抽查比例", "Minimum audit rate"), format!("{}‰", log.min_audit_permille)));
    }
    facts.push((label("条目", "Entries"), thousands(report.entries)));
    facts.push((label("签名", "Signatures"), thousands(report.signatures)));
    if let Some(p) = &report.period {
        facts.push((
            label("期间", "Period"),
            format!("{} — {}", escape(&p.first_entry), escape(&p.last_entry)),
        ));
    }
    facts.push((label("默克尔根", "Merkle root"), format!("<code>{}</code>", escape(&report.root))));
    for (k, v) in facts {
        let _ = write!(o, "<tr><th class=\"l\">{k}</th><td class=\"l\">{v}</td></tr>");
    }
    o.push_str("</table>");

    if !report.violations.is_empty() {
        o.push_str("<h2>违规 <span class=\"en\">Violations</span></h2>");
        for v in &report.violations {
            violation_html(v, &mut o);
        }
    }

    let t = &report.totals;
    o.push_str("<h2>资金总额 <span class=\"en\">Money totals (cash)</span></h2><table>");
    for (zh, en, fen) in [
        ("期初余额", "Opening balances", t.opening_fen),
        ("收到捐赠", "Received", t.received_fen),
        ("退款", "Refunded", t.refunded_fen),
        ("更正", "Corrected", t.corrected_fen),
        ("拨付个案", "Allocated", t.allocated_fen),
        ("撤回拨付", "Allocations revoked", t.revoked_fen),
        ("支出", "Disbursed", t.disbursed_fen),
        ("支出退回", "Returned", t.returned_fen),
        ("基金结存", "Held in funds", t.held_in_funds_fen),
        ("个案结存", "Held in cases", t.held_in_cases_fen),
    ] {
        let _ = write!(o, "<tr><th class=\"l\">{}</th><td>{}</td></tr>", label(zh, en), escape(&yuan(fen)));
    }
    o.push_str("</table>");

    if !report.programmes.is_empty() {
        o.push_str("<h2>各项目 <span class=\"en\">By programme</span></h2>");
        o.push_str(&programme_chart(report));
        o.push_str("<table>");
        header(
            &mut o,
            &[
                ("项目", "Programme"),
                ("收到", "Received"),
                ("拨付（净）", "Allocated (net)"),
                ("支出（净）", "Disbursed (net)"),
                ("退款", "Refunded"),
                ("基金结存", "In funds"),
                ("个案结存", "In cases"),
                ("个案数", "Cases"),
            ],
            1,
        );
        for (name, p) in &report.programmes {
            row(
                &mut o,
                &[
                    format!("{} <span class=\"en\">{}</span>", programme_zh(name), escape(name)),
                    escape(&yuan(p.received_fen)),
                    escape(&yuan(p.allocated_fen.saturating_sub(p.revoked_fen))),
                    escape(&yuan(p.disbursed_fen.saturating_sub(p.returned_fen))),
                    escape(&yuan(p.refunded_fen)),
                    escape(&yuan(p.held_in_funds_fen)),
                    escape(&yuan(p.held_in_cases_fen)),
                    thousands(p.cases),
                ],
                1,
            );
        }
        o.push_str("</table>");
    }

    if !report.funds.is_empty() {
        o.push_str("<h2>各基金 <span class=\"en\">By fund</span></h2>");
        o.push_str(&fund_chart(report));
        o.push_str("<table>");
        header(
            &mut o,
            &[
                ("基金", "Fund"),
                ("名称", "Name"),
                ("项目", "Programme"),
                ("期初", "Opening"),
                ("收到", "Received"),
                ("退款", "Refunded"),
                ("拨付（净）", "Allocated (net)"),
                ("结存", "Balance"),
            ],
            3,
        );
        for (id, f) in report.funds.iter().take(FUNDS_LISTED_MAX) {
            let mut name = escape(&f.name);
            if f.restricted {
                name.push_str(" · 限定性 restricted");
            }
            if f.closed {
                name.push_str(" · 已关闭 closed");
            }
            if let Some(s) = &f.sponsor {
                let _ = write!(name, " · 冠名 {}", escape(s));
            }
            row(
                &mut o,
                &[
                    format!("<code class=\"id\">{}</code>", escape(id)),
                    name,
                    format!("{} {}", programme_zh(&f.programme), escape(&f.programme)),
                    escape(&yuan(f.opening_fen)),
                    escape(&yuan(f.received_fen)),
                    escape(&yuan(f.refunded_fen)),
                    escape(&yuan(f.allocated_fen.saturating_sub(f.revoked_fen))),
                    escape(&yuan(f.balance_fen)),
                ],
                3,
            );
        }
        o.push_str("</table>");
        if report.funds.len() > FUNDS_LISTED_MAX {
            let _ = write!(o, "<p>… {} more 更多基金见 --json</p>", report.funds.len() - FUNDS_LISTED_MAX);
        }
    }

    if !report.goods.is_empty() {
        o.push_str("<h2>物资 <span class=\"en\">Goods (quantities)</span></h2><table>");
        header(
            &mut o,
            &[
                ("物品", "Item"),
                ("收到", "Received"),
                ("更正", "Corrected"),
                ("发放", "Disbursed"),
                ("退回", "Returned"),
                ("基金结存", "In funds"),
                ("个案结存", "In cases"),
            ],
            1,
        );
        for (item, g) in &report.goods {
            row(
                &mut o,
                &[
                    escape(item),
                    thousands(g.received),
                    thousands(g.corrected),
                    thousands(g.disbursed),
                    thousands(g.returned),
                    thousands(g.held_in_funds),
                    thousands(g.held_in_cases),
                ],
                1,
            );
        }
        o.push_str("</table>");
    }

    let c = &report.complaints;
    let a = &report.audits;
    o.push_str("<h2>投诉与审计 <span class=\"en\">Complaints and audits</span></h2><table>");
    for (zh, en, n) in [
        ("投诉受理", "Complaints filed", c.filed),
        ("处理中", "Open", c.open),
        ("已办结", "Resolved", c.resolved),
        ("抽查计划", "Audit plans", a.planned),
        ("已抽样", "Samples drawn", a.sampled),
        ("审计发现", "Findings", a.findings),
        ("整改通知", "Rectifications issued", a.rectifications_issued),
        ("整改完成", "Rectifications closed", a.rectifications_closed),
    ] {
        let _ = write!(o, "<tr><th class=\"l\">{}</th><td>{}</td></tr>", label(zh, en), thousands(n));
    }
    o.push_str("</table>");
    if !a.unsampled_plans.is_empty() {
        let _ = write!(
            o,
            "<p>{}: {}</p>",
            label("未抽样的计划", "Plans never sampled"),
            escape(&a.unsampled_plans.join(", "))
        );
    }

    if !report.checkpoints.is_empty() {
        o.push_str("<h2>检查点 <span class=\"en\">Checkpoints</span></h2><table>");
        header(&mut o, &[("来源", "Source"), ("规模", "Size"), ("结果", "Status"), ("说明", "Detail")], 4);
        for cp in &report.checkpoints {
            let mut detail = escape(&cp.message);
            for w in &cp.cosigned_by {
                let _ = write!(detail, "<br>见证 cosigned by {} @ {}", escape(&w.name), w.timestamp);
            }
            row(
                &mut o,
                &[
                    escape(&cp.label),
                    cp.size.map(thousands).unwrap_or_else(|| "?".into()),
                    escape(cp.status.as_str()),
                    detail,
                ],
                4,
            );
        }
        o.push_str("</table>");
    }
    if let Some(b) = &report.balances_check {
        let _ = write!(
            o,
            "<h2>公布余额核对 <span class=\"en\">Published balances</span></h2><p>{} @ {}: <b>{}</b> — {}</p>",
            escape(&b.label),
            thousands(b.size),
            escape(b.status.as_str()),
            escape(&b.message)
        );
    }
    let _ = write!(
        o,
        "<p class=\"en\">{} · 时间为北京时间 times in UTC+08:00 · 金额单位：元 amounts in yuan (CNY)</p></body></html>",
        escape(&report.tool)
    );
    o
}
