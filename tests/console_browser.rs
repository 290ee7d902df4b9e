//! The web console (`cdex-harness serve`) in a real headless Chromium driven through the
//! Chrome DevTools Protocol (tests/common/cdp.rs). Set CDEX_SKIP_BROWSER=1 to skip.

mod common;

use common::cdp::Browser;
use std::time::Duration;

#[test]
fn the_driver_loads_a_page_and_reads_it() {
    let dir = common::tmp("console", "driver");
    let Some(browser) = Browser::launch(&dir) else {
        return;
    };
    let page = browser.page();
    page.navigate("data:text/html,<title>t</title><p id=x>hello</p>");
    assert_eq!(
        page.eval("document.getElementById('x').textContent")
            .unwrap(),
        "hello"
    );
    assert_eq!(
        page.eval("[innerWidth, innerHeight]").unwrap(),
        serde_json::json!([1400, 900])
    );
    assert_eq!(
        page.eval("new Promise(r => setTimeout(() => r(42), 10))")
            .unwrap(),
        42
    );
    page.eval("setTimeout(() => document.body.dataset.late = 'yes', 300)")
        .unwrap();
    page.wait_for("document.body.dataset.late", Duration::from_secs(30))
        .unwrap();
    assert!(page.eval("nope()").is_err());
    let shot = dir.join("shot.png");
    page.screenshot(&shot);
    let png = std::fs::read(&shot).unwrap();
    assert_eq!(&png[1..4], b"PNG");
}
