//! A program's main thread joins the pool by itself the first time it runs
//! Strata (`threads::join_from_main`, which `fit`, `evaluate`, `predict` and
//! `run_step` call), and a training step from another thread runs on a
//! worker with graph recording on. No test harness: the harness runs tests
//! on threads of its own, never on the one named `main`.

use strata_core::{no_grad, threads, Tensor};

fn main() {
    assert_eq!(std::thread::current().name(), Some("main"));
    assert_eq!(rayon::current_thread_index(), None, "no pool yet");
    // Before a step, so its own call finds the pool built.
    threads::join_from_main();
    let workers = threads::num_threads();
    let want = if workers >= 2 { Some(0) } else { None };
    assert_eq!(rayon::current_thread_index(), want, "{workers} thread(s): the main thread is worker 0 from two threads up");
    // A second call leaves the pool as it is.
    threads::join_from_main();
    assert_eq!(threads::num_threads(), workers);

    // From another thread: the step runs on a worker. Called on a worker
    // whose thread records no graph (as a step's backward pass does), the
    // step records its own.
    let step = || {
        let x = Tensor::variable(vec![1.0, 2.0], &[2]).unwrap();
        let grads = x.square().sum().backward().unwrap();
        (rayon::current_thread_index().is_some(), grads.get(&x).map(|g| g.to_vec()))
    };
    let want = (true, Some(vec![2.0, 4.0]));
    assert_eq!(std::thread::spawn(move || threads::run_step(step)).join().unwrap(), want, "from another thread");
    let inside = std::thread::spawn(move || {
        threads::on_pool(|| {
            let _off = no_grad();
            threads::run_step(step)
        })
    });
    assert_eq!(inside.join().unwrap(), want, "on a worker recording no graph");
    println!("join_from_main: ok ({workers} threads)");
}
