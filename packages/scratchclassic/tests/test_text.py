"""CountVectorizer against scikit-learn's on a tiny corpus with the same token pattern: the same
vocabulary, the same counts, out-of-vocabulary words ignored."""

import numpy as np
import pytest
from sklearn.feature_extraction.text import CountVectorizer as SkCountVectorizer

from scratchclassic.base import NotFittedError
from scratchclassic.text import CountVectorizer

TRAIN = [
    "WINNER!! You have won a £900 prize. Call 09061701461 to claim",
    "Ok lar... Joking wif u oni... ok ok",
    "Free entry in 2 a wkly comp to win FA Cup final tkts 21st May",
    "I'm gonna be home soon and i don't want to talk about this stuff anymore",
    "Café déjà vu: naïve résumé, CALL me later",
]
TEST = ["call me later, ok? a brand-new WINNER", "nothing known here xyz", ""]


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"min_df": 2},
        {"min_df": 0.4},
        {"lowercase": False},
        {"token_pattern": r"(?u)\b\w+\b"},
        {"token_pattern": r"[a-z£]+", "min_df": 1},
    ],
    ids=["defaults", "min_df=2", "min_df=0.4", "case-kept", "single-chars", "custom"],
)
def test_matches_sklearn(params):
    ours = CountVectorizer(**params)
    theirs = SkCountVectorizer(**params)
    X_ours = ours.fit_transform(TRAIN)
    X_theirs = theirs.fit_transform(TRAIN).toarray()
    assert ours.vocabulary_ == {k: int(v) for k, v in theirs.vocabulary_.items()}
    np.testing.assert_array_equal(ours.get_feature_names_out(), theirs.get_feature_names_out())
    np.testing.assert_array_equal(X_ours, X_theirs)
    np.testing.assert_array_equal(ours.transform(TEST), theirs.transform(TEST).toarray())
    np.testing.assert_array_equal(ours.document_frequency_, (X_theirs > 0).sum(axis=0))


def test_vocabulary_is_from_training_documents_only():
    vectorizer = CountVectorizer().fit(["ok ok lar"])
    np.testing.assert_array_equal(vectorizer.transform(["lar unseen ok ok ok"]), [[1, 3]])


def test_errors_are_clear():
    with pytest.raises(NotFittedError, match="This CountVectorizer instance is not fitted"):
        CountVectorizer().transform(["a b"])
    with pytest.raises(ValueError, match="single string"):
        CountVectorizer().fit("just one document")
    with pytest.raises(ValueError, match="must be a str, got a int"):
        CountVectorizer().fit(["fine", 3])
    with pytest.raises(ValueError, match=r"min_df must be an int >= 1 .* got 0"):
        CountVectorizer(min_df=0).fit(TRAIN)
    with pytest.raises(ValueError, match=r"float min_df must be in \(0, 1\], got 1.5"):
        CountVectorizer(min_df=1.5).fit(TRAIN)
    with pytest.raises(ValueError, match="no token occurs in min_df=9 documents"):
        CountVectorizer(min_df=9).fit(TRAIN)


def test_multinomial_nb_matches_sklearn_on_bag_of_words():
    from sklearn.naive_bayes import MultinomialNB as SkMultinomialNB

    from scratchclassic.naive_bayes_text import MultinomialNB

    labels = np.array(["spam", "ham", "spam", "ham", "ham"])
    vectorizer = CountVectorizer().fit(TRAIN)
    X, X_test = vectorizer.transform(TRAIN), vectorizer.transform(TEST)
    for params in ({}, {"alpha": 0.3}, {"fit_prior": False}):
        ours = MultinomialNB(**params).fit(X, labels)
        theirs = SkMultinomialNB(**params).fit(X, labels)
        np.testing.assert_array_equal(ours.classes_, theirs.classes_)
        np.testing.assert_allclose(ours.feature_log_prob_, theirs.feature_log_prob_, rtol=1e-12)
        np.testing.assert_allclose(ours.class_log_prior_, theirs.class_log_prior_, rtol=1e-12)
        np.testing.assert_allclose(
            ours.predict_log_proba(X_test), theirs.predict_log_proba(X_test), rtol=1e-10
        )
        np.testing.assert_array_equal(ours.predict(X_test), theirs.predict(X_test))


def test_multinomial_nb_errors():
    from scratchclassic.naive_bayes_text import MultinomialNB

    with pytest.raises(ValueError, match="MultinomialNB: alpha must be > 0, got 0"):
        MultinomialNB(alpha=0).fit([[1, 2]], [0])
    with pytest.raises(
        ValueError, match=r"MultinomialNB: Negative values in data passed to X \(found -1\.0\)"
    ):
        MultinomialNB().fit([[1, -1]], [0])
    with pytest.raises(
        ValueError, match="X has 3 features, but MultinomialNB is expecting 2 features"
    ):
        MultinomialNB().fit([[1, 2], [0, 1]], [0, 1]).predict([[1, 2, 3]])
