//! A server's runs read back through [`Remote`]: the same values as the local store's reading
//! API, only for the runs the token's user may read.

use std::net::{Ipv4Addr, SocketAddr};

use nabla_track::{EndStatus, Remote, Run, RunOptions, RunQuery, Store, TrackError};
use nabla_ui::{Server, ServerOptions};

#[test]
fn a_history_longer_than_a_page_is_read_whole_in_step_ranges() {
    let tmp = tempfile::tempdir().unwrap();
    let server_store = tmp.path().join("server");
    let (ada, grace) = {
        let mut s = Store::open(&server_store).unwrap();
        (s.add_user("ada", false).unwrap(), s.add_user("grace", false).unwrap())
    };
    let options = ServerOptions::new(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)), &server_store).prewarm(false);
    let server = Server::start(options.users(false)).unwrap();
    let url = format!("http://{}", server.addr());
    let remote = Remote::new(&url, &ada).unwrap();
    let options = RunOptions::new("ada-long").system_interval(None);
    let local = tmp.path().join("laptop");
    let mut run = Run::start(&local, RunOptions { remote: Some(remote.clone()), ..options }).unwrap();
    // Uneven steps, and a NaN: the pieces must join in order with nothing lost or repeated.
    for i in 0..1000u64 {
        let value = if i == 500 { f64::NAN } else { (i as f64).sin() };
        run.log(i * 3 + i % 2, &[("train/loss", value)]).unwrap();
    }
    let id = run.id().to_string();
    run.finish(EndStatus::Finished).unwrap();
    let want = Store::open_read_only(&local).unwrap().history(&id, "train/loss", ..).unwrap();
    assert_eq!(want.len(), 1000);
    for page in [2, 7, 64, 999, 1000, 1_000_000] {
        let got = remote.history_in_pages(&id, "train/loss", page).unwrap();
        assert_eq!(got.len(), want.len(), "page {page}");
        for (g, w) in got.iter().zip(&want) {
            assert_eq!(g.step, w.step, "page {page}");
            assert_eq!(g.wall_time, w.wall_time, "page {page}");
            assert!(g.value == w.value || (g.value.is_nan() && w.value.is_nan()), "page {page}: {g:?} {w:?}");
        }
    }
    // The run as `nabla runs show` shows it, and the list: the local store's values.
    let detail = remote.run(&id[..8]).unwrap();
    let local_detail = Store::open_read_only(&local).unwrap().run_detail(&id).unwrap();
    assert_eq!(detail.run.id, id);
    assert_eq!(detail.run.config, local_detail.run.config);
    assert_eq!(detail.metrics, local_detail.metrics);
    let listed = remote.runs(Some("ada-long"), &[], None, None).unwrap();
    assert_eq!(listed.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(), [id.as_str()]);
    assert_eq!(Store::open_read_only(&server_store).unwrap().runs(&RunQuery::default()).unwrap().len(), 1);
    // Grace may not read it: unknown to her, and her list is empty.
    let as_grace = Remote::new(&url, &grace).unwrap();
    assert!(matches!(as_grace.run(&id), Err(TrackError::Remote { status: Some(404), .. })));
    assert!(matches!(as_grace.history(&id, "train/loss"), Err(TrackError::Remote { status: Some(404), .. })));
    assert!(as_grace.runs(None, &[], None, None).unwrap().is_empty());
}
