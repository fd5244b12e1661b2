//! "Did you mean" suggestions for misspelt layer, activation and argument names.

/// Number of single-character edits (insert, delete, replace, swap two neighbours) that
/// turn `a` into `b`: the optimal-string-alignment distance.
///
/// Swaps count as one edit because `tahn` for `tanh` is a typing slip, not two mistakes.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();

    // `rows[i][j]` is the distance between the first `i` chars of `a` and the first `j` of `b`.
    let mut rows = vec![vec![0_usize; b.len() + 1]; a.len() + 1];
    for (i, row) in rows.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in rows[0].iter_mut().enumerate() {
        *cell = j;
    }

    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (rows[i - 1][j] + 1)
                .min(rows[i][j - 1] + 1)
                .min(rows[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(rows[i - 2][j - 2] + 1);
            }
            rows[i][j] = best;
        }
    }
    rows[a.len()][b.len()]
}

/// Lower case without underscores, so `Max_Pooling2D` and `maxpooling2d` compare equal.
fn normalize(word: &str) -> String {
    word.chars()
        .filter(|c| *c != '_')
        .flat_map(char::to_lowercase)
        .collect()
}

/// The candidate `word` most likely stands for, if any.
///
/// An alias (a normalized spelling from Keras, like `maxpooling2d`) wins outright; otherwise
/// the nearest candidate is suggested when it is within a third of its length (at least one
/// edit), which catches typos without suggesting `dense` for `lstm`.
pub fn nearest<'a>(
    word: &str,
    candidates: &[&'a str],
    aliases: &[(&str, &'a str)],
) -> Option<&'a str> {
    let word = normalize(word);
    if let Some((_, target)) = aliases.iter().find(|(alias, _)| *alias == word) {
        return Some(target);
    }

    candidates
        .iter()
        .map(|c| (edit_distance(&word, &normalize(c)), *c))
        .filter(|(distance, c)| *distance <= (c.chars().count() / 3).max(1))
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, c)| c)
}

/// `; did you mean `x`?` when there is a likely candidate, else nothing.
pub fn did_you_mean(word: &str, candidates: &[&str], aliases: &[(&str, &str)]) -> String {
    match nearest(word, candidates, aliases) {
        Some(candidate) => format!("; did you mean `{candidate}`?"),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LAYERS: &[&str] = &["conv2d", "maxpool", "dropout", "flatten", "dense"];

    #[test]
    fn distance_counts_each_kind_of_edit_once() {
        assert_eq!(edit_distance("conv2d", "conv2d"), 0);
        assert_eq!(edit_distance("conv3d", "conv2d"), 1);
        assert_eq!(edit_distance("dens", "dense"), 1);
        assert_eq!(edit_distance("ddense", "dense"), 1);
        assert_eq!(edit_distance("tahn", "tanh"), 1);
        assert_eq!(edit_distance("", "relu"), 4);
        assert_eq!(edit_distance("relu", ""), 4);
    }

    #[test]
    fn typos_get_the_intended_word() {
        assert_eq!(nearest("conv3d", LAYERS, &[]), Some("conv2d"));
        assert_eq!(nearest("Dense", LAYERS, &[]), Some("dense"));
        assert_eq!(nearest("flaten", LAYERS, &[]), Some("flatten"));
        assert_eq!(
            nearest("relux", &["relu", "sigmoid", "tanh", "softmax"], &[]),
            Some("relu")
        );
    }

    #[test]
    fn aliases_win_and_unrelated_words_get_nothing() {
        let aliases = [("maxpooling2d", "maxpool")];

        assert_eq!(nearest("MaxPooling2D", LAYERS, &aliases), Some("maxpool"));
        assert_eq!(nearest("max_pooling2d", LAYERS, &aliases), Some("maxpool"));
        assert_eq!(nearest("lstm", LAYERS, &aliases), None);
        assert_eq!(did_you_mean("lstm", LAYERS, &aliases), "");
    }
}
