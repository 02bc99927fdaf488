//! Data parallelism on the machine's cores with scoped threads, no thread pool to manage.

/// Maps `f` over `items` on every core, in contiguous chunks, keeping the order. Runs on
/// the calling thread when there are fewer than `min_parallel` items or one core.
pub fn map<T: Sync, R: Send>(
    items: &[T],
    min_parallel: usize,
    f: impl Fn(&T) -> R + Sync,
) -> Vec<R> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(items.len().max(1));
    if threads == 1 || items.len() < min_parallel {
        return items.iter().map(f).collect();
    }
    let per = items.len().div_ceil(threads);
    let f = &f;
    std::thread::scope(|s| {
        let workers: Vec<_> = items
            .chunks(per)
            .map(|part| s.spawn(move || part.iter().map(f).collect::<Vec<R>>()))
            .collect();
        let mut out = Vec::with_capacity(items.len());
        for w in workers {
            match w.join() {
                Ok(part) => out.extend(part),
                // A panic in `f` surfaces as it would on one thread.
                Err(payload) => std::panic::resume_unwind(payload),
            }
        }
        out
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn keeps_the_order_on_any_number_of_items() {
        for n in [0usize, 1, 2, 3, 1000, 1001] {
            let items: Vec<usize> = (0..n).collect();
            assert_eq!(
                super::map(&items, 2, |i| i * 2),
                (0..n).map(|i| i * 2).collect::<Vec<_>>()
            );
        }
    }
}
