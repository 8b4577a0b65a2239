//! The public transparency page in Debian's headless Chromium against the real demo node: the
//! figures agree with `/v1/balances`, the language switches, a receipt's inclusion proof and
//! checkpoint signature are checked in the browser and hold, and fail when tampered with.

use serde_json::{json, Value};
use tests::{demo, get_json, get_text, yuan, Browser};

/// Desktop and phone viewports.
const DESKTOP: (u32, u32) = (1280, 900);
const PHONE: (u32, u32) = (360, 780);

/// Goes to `path` and waits until the page has rendered it; answers the route it rendered.
fn open(b: &Browser, path: &str) -> String {
    // A change of the fragment alone is no new page: forget the previous route first.
    b.js("if (document.body) document.body.removeAttribute('data-ready')", &[]);
    b.goto(&format!("{}{path}", demo().url));
    b.wait_ready()
}

fn summary() -> Value {
    get_json(&format!("{}/v1/summary", demo().url))
}

/// A gift from the demo that has been paid out to people (the summary's example).
fn disbursed_donation() -> String {
    summary()["examples"]["disbursed"].as_str().expect("the demo has a disbursed gift").to_string()
}

fn verify_status(b: &Browser) -> String {
    b.wait_for(
        "the in-browser check to finish",
        "const r = document.getElementById('verify-result'); \
         return document.body.dataset.ready && r && r.dataset.status !== 'running' ? r.dataset.status : null",
    )
    .as_str()
    .unwrap_or_default()
    .to_string()
}

/// `[(step, status)]` of the check list.
fn steps(b: &Browser) -> Vec<(String, String)> {
    let v = b.js(
        "return [...document.querySelectorAll('#verify-steps li, .steps li')].map(li => [li.dataset.step, li.dataset.status])",
        &[],
    );
    v.as_array()
        .into_iter()
        .flatten()
        .map(|p| {
            (p[0].as_str().unwrap_or_default().to_string(), p[1].as_str().unwrap_or_default().to_string())
        })
        .collect()
}

#[test]
fn home_figures_match_the_balances() {
    let b = Browser::new(DESKTOP.0, DESKTOP.1);
    assert_eq!(open(&b, "/"), "home");
    assert_eq!(b.js("return document.documentElement.lang", &[]), "zh-CN");

    let balances = get_json(&format!("{}/v1/balances", demo().url));
    let t = &balances["totals"];
    let n = |k: &str| t[k].as_u64().unwrap_or_else(|| panic!("totals.{k}"));
    let expected = [
        ("received", n("received_fen")),
        ("allocated", n("allocated_fen") - n("revoked_fen")),
        ("disbursed", n("disbursed_fen") - n("returned_fen")),
        ("held", n("held_in_funds_fen") + n("held_in_cases_fen")),
    ];
    for (fig, fen) in expected {
        let shown =
            b.text(&format!("[data-fig={fig}]")).unwrap_or_else(|| panic!("figure {fig} is on the page"));
        assert_eq!(shown, yuan(fen), "figure {fig}");
    }
    assert_eq!(b.text("[data-fig-label=received]").as_deref(), Some("累计收到捐款"));

    // Per programme: what waits in cases and what is held in funds, summed from the balances.
    let mut in_cases = std::collections::BTreeMap::<String, u64>::new();
    let mut in_funds = std::collections::BTreeMap::<String, u64>::new();
    for (map, key) in [(&mut in_cases, "cases"), (&mut in_funds, "funds")] {
        for v in balances[key].as_object().expect("balances map").values() {
            let programme = v["programme"].as_str().expect("programme").to_string();
            *map.entry(programme).or_default() += v["cash_fen"].as_u64().expect("cash_fen");
        }
    }
    for p in ["elderly", "children", "education", "medical", "disability", "poverty", "general"] {
        let cases = b.text(&format!("[data-prog={p}][data-col=held_cases]")).expect("programme row");
        assert_eq!(cases, yuan(in_cases.get(p).copied().unwrap_or(0)), "{p}: waiting in cases");
        let funds = b.text(&format!("[data-prog={p}][data-col=funds_held]")).expect("programme row");
        assert_eq!(funds, yuan(in_funds.get(p).copied().unwrap_or(0)), "{p}: held in funds");
    }

    // The flow picture is drawn, and the checkpoint's signature was checked in the browser.
    let bands = b.js("return document.querySelectorAll('#sankey svg path.link').length", &[]);
    assert!(bands.as_u64().unwrap_or(0) >= 10, "the Sankey picture has its bands ({bands})");
    assert_eq!(b.js("return document.getElementById('cp-sig').dataset.status", &[]), "pass");
    let size = balances["size"].as_u64().expect("size");
    assert_eq!(b.text("[data-cp=size]").map(|s| s.replace(',', "")), Some(size.to_string()));
    let note = get_text(&format!("{}/checkpoint", demo().url));
    assert!(
        note.contains(&balances["root"].as_str().expect("root").to_string()),
        "balances and checkpoint agree"
    );
    let rows = b.js("return document.querySelectorAll('table.events tbody tr').length", &[]);
    assert_eq!(rows, 20, "the newest events are listed");
}

#[test]
fn the_language_switches_to_english_and_stays() {
    let b = Browser::new(DESKTOP.0, DESKTOP.1);
    assert_eq!(open(&b, "/"), "home");
    assert_eq!(b.text("#lang").as_deref(), Some("English"));
    b.click("#lang");
    b.wait_for(
        "English",
        "return document.documentElement.lang === 'en' && document.body.dataset.ready === 'home'",
    );
    assert_eq!(b.text("[data-fig-label=received]").as_deref(), Some("Donations received"));
    assert_eq!(b.text("a[data-route=verify]").as_deref(), Some("Verify my donation"));
    assert_eq!(b.text("#h-totals").as_deref(), Some("At a glance"));
    assert_eq!(b.text("#lang").as_deref(), Some("中文"));
    let chinese_left = b.js(
        "return [...document.querySelectorAll('h1, h2, th, .fig-label, nav a, label, button')]\
         .map(e => e.textContent).filter(t => /[\\u4e00-\\u9fff]/.test(t) && !/^中文$/.test(t.trim()))",
        &[],
    );
    assert_eq!(chinese_left, json!([]), "every heading, label and button is in English");

    // Persisted: a reload stays in English.
    assert_eq!(open(&b, "/"), "home");
    assert_eq!(b.js("return document.documentElement.lang", &[]), "en");
    // And back.
    b.click("#lang");
    b.wait_for(
        "Chinese",
        "return document.documentElement.lang === 'zh-CN' && document.body.dataset.ready === 'home'",
    );
    assert_eq!(b.text("[data-fig-label=received]").as_deref(), Some("累计收到捐款"));

    // `?lang=en` in a fresh browser.
    let fresh = Browser::new(DESKTOP.0, DESKTOP.1);
    assert_eq!(open(&fresh, "/?lang=en#/verify"), "verify");
    assert_eq!(fresh.js("return document.documentElement.lang", &[]), "en");
    assert_eq!(fresh.text("#h-verify").as_deref(), Some("Verify my donation"));
}

#[test]
fn a_receipt_is_verified_in_the_browser() {
    let id = disbursed_donation();
    let b = Browser::new(DESKTOP.0, DESKTOP.1);
    assert_eq!(open(&b, "/"), "home");
    // As a donor would: type the receipt code on the home page and press the button.
    b.type_into("#home-id", &id);
    b.click("#home-submit");
    assert_eq!(verify_status(&b), "pass", "{:?}", b.text("#verify-result"));
    assert_eq!(
        steps(&b),
        ["key", "entry", "leaf", "inclusion", "signature"]
            .map(|s| (s.to_string(), "ok".to_string()))
            .to_vec()
    );
    let receipt = get_json(&format!("{}/v1/donations/{id}/receipt", demo().url));
    let result = b.text("#verify-result").expect("result");
    assert!(result.starts_with('✓'), "{result}");
    assert!(result.contains(&receipt["seq"].to_string()), "{result}");
    assert_eq!(receipt["log_key"].as_str(), Some(demo().log_key.as_str()), "the demo's key");
    let embedded = b.js("return document.querySelector('meta[name=log-key]').content", &[]);
    assert_eq!(embedded.as_str(), Some(demo().log_key.as_str()), "the page embeds the node's key");

    // The trace on the page is the node's trace, portion by portion.
    let donation = get_json(&format!("{}/v1/donations/{id}", demo().url));
    let portions = donation["trace"].as_array().expect("trace").len();
    let rows = b.js("return document.querySelectorAll('table.trace tbody tr').length", &[]);
    assert_eq!(rows.as_u64(), Some(portions as u64));
    assert!(donation["trace"].as_array().into_iter().flatten().any(|p| p["state"] == "disbursed"));
    let amount = donation["donation"]["amount_fen"].as_u64().expect("a cash gift");
    assert_eq!(b.text("[data-donation-amount]"), Some(yuan(amount)));
}

#[test]
fn a_donor_proves_the_gift_is_theirs_in_the_browser() {
    // The demo's receipts (salt and identity) come from the same generated year: same seed,
    // scale, origin and year as `ledger-node demo` used, so the same bytes.
    let s = summary();
    let origin = s["log"]["origin"].as_str().expect("origin").to_string();
    let year: i32 = s["funds"][0]["opened_at"]
        .as_str()
        .and_then(|a| a.get(..4))
        .and_then(|y| y.parse().ok())
        .expect("year");
    let scenario = ledger_core::scenario::generate(&ledger_core::scenario::ScenarioConfig {
        seed: 2025,
        scale: 1,
        origin,
        year,
    });
    let receipt = scenario.receipts.first().expect("the demo keeps donor receipts");
    let salt: String = receipt.salt.iter().map(|b| format!("{b:02x}")).collect();

    let b = Browser::new(DESKTOP.0, DESKTOP.1);
    assert_eq!(open(&b, "/#/verify"), "verify");
    b.type_into("#receipt-id", &receipt.donation_id);
    b.click("#verify-form details summary");
    b.type_into("#receipt-salt", &salt);
    b.type_into("#receipt-identity", &receipt.identity.to_lowercase());
    b.click("#verify-submit");
    assert_eq!(verify_status(&b), "pass", "{:?}", b.text("#verify-result"));
    assert_eq!(steps(&b).last(), Some(&("commitment".to_string(), "ok".to_string())));
    assert!(
        !b.js("return location.href", &[]).as_str().unwrap_or_default().contains(&salt),
        "the salt never goes into the URL"
    );

    // Someone else's identity does not open the commitment.
    let mut other = receipt.identity.clone();
    let last = if other.ends_with('1') { '2' } else { '1' };
    other.pop();
    other.push(last);
    b.type_into("#receipt-identity", &other);
    b.click("#verify-submit");
    assert_eq!(verify_status(&b), "fail");
    assert_eq!(b.js("return document.getElementById('verify-result').dataset.failedStep", &[]), "commitment");
}

#[test]
fn a_tampered_receipt_fails_in_the_browser() {
    let id = disbursed_donation();
    let b = Browser::new(DESKTOP.0, DESKTOP.1);
    for (tamper, failed) in
        [("proof", "inclusion"), ("entry", "inclusion"), ("signature", "signature"), ("key", "key")]
    {
        b.goto(&format!("{}/?tamper={tamper}#/verify/{id}", demo().url));
        assert_eq!(verify_status(&b), "fail", "tamper={tamper}");
        let result = b.js(
            "const r = document.getElementById('verify-result'); return [r.dataset.failedStep, r.textContent]",
            &[],
        );
        assert_eq!(result[0], failed, "tamper={tamper}: {}", result[1]);
        assert!(result[1].as_str().unwrap_or_default().starts_with('✗'), "{}", result[1]);
        let statuses = steps(&b);
        let at = statuses.iter().position(|(s, _)| s == failed).expect("the failed step is listed");
        assert!(statuses[..at].iter().all(|(_, st)| st == "ok"), "tamper={tamper}: {statuses:?}");
        assert_eq!(statuses[at].1, "fail");
        assert!(b.text("#tamper-note").is_some(), "the page says it was tampered with");
    }
    // The key check names both keys.
    let msg = b.text("#verify-steps li[data-step=key] .step-detail").expect("detail");
    assert!(msg.contains(&demo().log_key), "{msg}");
}

#[test]
fn fund_case_complaint_audit_and_entry_pages() {
    let s = summary();
    let b = Browser::new(DESKTOP.0, DESKTOP.1);

    let balances = get_json(&format!("{}/v1/balances", demo().url));
    assert_eq!(open(&b, "/#/fund/fund-general"), "fund/fund-general");
    let held = balances["funds"]["fund-general"]["cash_fen"].as_u64().expect("fund-general");
    assert_eq!(b.text("[data-fund-held]"), Some(yuan(held)));

    // A case: anonymised, with its payments and their voucher hashes.
    let id = disbursed_donation();
    let donation = get_json(&format!("{}/v1/donations/{id}", demo().url));
    let case = donation["trace"]
        .as_array()
        .into_iter()
        .flatten()
        .find_map(|p| p["case"].as_str())
        .expect("the gift reached a case")
        .to_string();
    let case_json = get_json(&format!("{}/v1/cases/{case}", demo().url));
    assert_eq!(open(&b, &format!("/#/case/{case}")), format!("case/{case}"));
    let text = b.js("return document.getElementById('main').innerText", &[]);
    let text = text.as_str().unwrap_or_default();
    let beneficiary = case_json["beneficiary"].as_str().expect("commitment");
    assert!(!text.contains(beneficiary), "the case page does not show the beneficiary's commitment");
    let voucher = case_json["disbursements"][0]["evidence"][0].as_str().expect("a voucher hash");
    assert!(text.contains(voucher), "voucher hashes are shown");
    assert!(text.contains(case_json["region"].as_str().expect("region")));

    // A complaint with its timeline.
    let complaint = s["complaints"].as_array().and_then(|c| c.last()).expect("a complaint");
    let cid = complaint["id"].as_str().expect("id");
    assert_eq!(open(&b, &format!("/#/complaint/{cid}")), format!("complaint/{cid}"));
    let status = b.js("return document.querySelector('[data-status]').dataset.status", &[]);
    assert_eq!(status, complaint["status"]);
    let items = b.js("return document.querySelectorAll('ol.timeline li').length", &[]);
    assert!(items.as_u64().unwrap_or(0) >= 2, "filed and handled: {items}");

    // An audit: the sample's nonce and selection are rechecked in the browser.
    let plan = s["audits"][0]["id"].as_str().expect("an audit");
    assert_eq!(open(&b, &format!("/#/audit/{plan}")), format!("audit/{plan}"));
    assert_eq!(b.js("return document.getElementById('audit-result').dataset.status", &[]), "pass");

    // A raw entry with its inclusion proof, checked in the browser.
    let seq = donation["seq"].as_u64().expect("seq");
    assert_eq!(open(&b, &format!("/#/entry/{seq}")), format!("entry/{seq}"));
    assert_eq!(verify_status(&b), "pass");
    let raw = get_text(&format!("{}/v1/entries/{seq}", demo().url));
    assert_eq!(b.text("#h-raw + pre").as_deref(), Some(raw.trim()));

    // An id typed into "find" lands on its page.
    assert_eq!(open(&b, &format!("/#/find/{cid}")), format!("complaint/{cid}"));
}

#[test]
fn a_phone_screen_keyboard_and_labels() {
    let b = Browser::new(PHONE.0, PHONE.1);
    let s = summary();
    let id = disbursed_donation();
    let donation = get_json(&format!("{}/v1/donations/{id}", demo().url));
    let case =
        donation["trace"].as_array().into_iter().flatten().find_map(|p| p["case"].as_str()).expect("a case");
    let paths = [
        "/".to_string(),
        "/#/verify".to_string(),
        "/#/funds".to_string(),
        "/#/oversight".to_string(),
        "/#/about".to_string(),
        format!("/#/verify/{id}"),
        format!("/#/case/{case}"),
        format!("/#/fund/{}", s["funds"][0]["id"].as_str().expect("a fund")),
        format!("/#/complaint/{}", s["complaints"][0]["id"].as_str().expect("a complaint")),
        format!("/#/audit/{}", s["audits"][0]["id"].as_str().expect("an audit")),
        format!("/#/entry/{}", donation["seq"]),
    ];
    for path in &paths {
        open(&b, path);
        let fits = b.js("return [document.documentElement.scrollWidth, window.innerWidth]", &[]);
        assert_eq!(fits, json!([PHONE.0, PHONE.0]), "{path}: no sideways scrolling at {} px", PHONE.0);
        let unlabelled = b.js(
            "return [...document.querySelectorAll('input, select, textarea')].filter(i => !i.labels.length && !i.getAttribute('aria-label')).map(i => i.id)",
            &[],
        );
        assert_eq!(unlabelled, json!([]), "{path}: every input has a label");
        let nameless = b.js(
            "return [...document.querySelectorAll('a, button')].filter(e => !e.textContent.trim() && !e.getAttribute('aria-label')).map(e => e.outerHTML)",
            &[],
        );
        assert_eq!(nameless, json!([]), "{path}: every link and button has a name");
        let charts = b.js("return [...document.querySelectorAll('svg[role=img]')].filter(s => !s.getAttribute('aria-label')).length", &[]);
        assert_eq!(charts, 0, "{path}: every chart has a text alternative");
    }

    // Keyboard: the first Tab reaches the skip link, Enter moves focus to the content.
    open(&b, "/");
    key(&b, "\u{E004}");
    assert_eq!(b.js("return document.activeElement.id", &[]), "skip");
    key(&b, "\u{E007}");
    assert_eq!(b.js("return document.activeElement.id", &[]), "main");
    // The receipt form works from the keyboard alone.
    b.js("document.getElementById('home-id').focus()", &[]);
    let mut keys: Vec<String> = id.chars().map(String::from).collect();
    keys.push("\u{E007}".to_string());
    for k in &keys {
        key(&b, k);
    }
    assert_eq!(verify_status(&b), "pass");
    let fits = b.js("return [document.documentElement.scrollWidth, window.innerWidth]", &[]);
    assert_eq!(fits, json!([PHONE.0, PHONE.0]), "the verify page fits a phone");
}

/// Presses one key (a WebDriver key code for Tab, Enter, ...).
fn key(b: &Browser, k: &str) {
    b.actions(json!([{"type": "key", "id": "keyboard", "actions": [
        {"type": "keyDown", "value": k}, {"type": "keyUp", "value": k},
    ]}]));
}

/// Screenshots of the home page (zh and en, desktop 1280 and phone 390) and of a receipt check
/// passing and failing. Every run takes them and checks they are real pictures; they land in
/// a temporary directory, or in `SCREENSHOTS_DIR` to refresh docs/img:
/// `SCREENSHOTS_DIR=$PWD/docs/img cargo test -p tests --test e2e screenshots`.
#[test]
fn screenshots() {
    let scratch = tempfile::tempdir().expect("tempdir");
    let out = std::env::var_os("SCREENSHOTS_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| scratch.path().to_path_buf());
    std::fs::create_dir_all(&out).expect("screenshot directory");
    let id = disbursed_donation();
    for (lang, query) in [("zh", "?lang=zh"), ("en", "?lang=en")] {
        for (device, width) in [("desktop", 1280), ("phone", 390)] {
            let b = Browser::new(width, 900);
            assert_eq!(open(&b, &format!("/{query}")), "home");
            b.screenshot_full_page(&out.join(format!("home-{lang}-{device}.png")));
        }
    }
    let b = Browser::new(390, 900);
    open(&b, &format!("/?lang=en#/verify/{id}"));
    assert_eq!(verify_status(&b), "pass");
    b.screenshot_full_page(&out.join("verify-en-phone.png"));
    let b = Browser::new(1280, 900);
    open(&b, &format!("/?lang=zh&tamper=proof#/verify/{id}"));
    assert_eq!(verify_status(&b), "fail");
    b.screenshot_full_page(&out.join("verify-tampered-zh-desktop.png"));
    for name in [
        "home-zh-desktop",
        "home-zh-phone",
        "home-en-desktop",
        "home-en-phone",
        "verify-en-phone",
        "verify-tampered-zh-desktop",
    ] {
        let bytes = std::fs::read(out.join(format!("{name}.png"))).expect("screenshot written");
        assert!(
            bytes.starts_with(b"\x89PNG\r\n\x1a\n") && bytes.len() > 10_000,
            "{name}.png is not a real screenshot"
        );
    }
}
