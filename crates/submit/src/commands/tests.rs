use super::parallel::par_for_each;

#[test]
fn bounded_parallel_visits_everything_once() {
    let mut items: Vec<u32> = (0..50).collect();
    par_for_each(&mut items, 4, |i| *i += 100);
    assert!(items.iter().enumerate().all(|(n, v)| *v == n as u32 + 100));
}
