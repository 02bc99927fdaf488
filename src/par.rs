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

/// Runs `f` on every part, the parts spread over the cores so that each core gets about the
/// same number of items (largest parts first). Runs on the calling thread when there are
/// fewer than `min_parallel` items in all or one core.
pub fn for_each_part<T: Send>(
    parts: Vec<&mut [T]>,
    min_parallel: usize,
    f: impl Fn(&mut [T]) + Sync,
) {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(parts.len().max(1));
    let total: usize = parts.iter().map(|p| p.len()).sum();
    if threads == 1 || total < min_parallel {
        parts.into_iter().for_each(f);
        return;
    }
    let mut parts = parts;
    parts.sort_by_key(|p| std::cmp::Reverse(p.len()));
    let mut buckets: Vec<(usize, Vec<&mut [T]>)> = (0..threads).map(|_| (0, Vec::new())).collect();
    for part in parts {
        if let Some(lightest) = buckets.iter_mut().min_by_key(|(n, _)| *n) {
            lightest.0 += part.len();
            lightest.1.push(part);
        }
    }
    let f = &f;
    std::thread::scope(|s| {
        let workers: Vec<_> = buckets
            .into_iter()
            .map(|(_, bucket)| s.spawn(move || bucket.into_iter().for_each(f)))
            .collect();
        for w in workers {
            if let Err(payload) = w.join() {
                std::panic::resume_unwind(payload);
            }
        }
    });
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
