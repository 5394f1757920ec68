"""Reference data (cities, taxonomy) and the vectorised name / e-mail / phone / address / brand pools."""

from __future__ import annotations

import re

import numpy as np
import pytest

from retailsim.errors import ConfigError
from retailsim.generate import reference
from retailsim.generate.reference import (
    SUPPORTED_LOCALES,
    load_cities,
    load_taxonomy,
    make_brands,
    make_emails,
    make_phones,
    make_street_addresses,
    name_pools,
    sample_people,
)

EMAIL_RE = re.compile(r"^[a-z0-9._%+-]+@[a-z0-9.-]+\.[a-z]{2,}$")
PHONE_RE = re.compile(r"^[0-9+()\-. ]{7,20}$")

US_STATES = {
    "Alabama", "Alaska", "Arizona", "Arkansas", "California", "Colorado", "Connecticut", "Delaware",
    "District of Columbia", "Florida", "Georgia", "Hawaii", "Idaho", "Illinois", "Indiana", "Iowa", "Kansas",
    "Kentucky", "Louisiana", "Maine", "Maryland", "Massachusetts", "Michigan", "Minnesota", "Mississippi",
    "Missouri", "Montana", "Nebraska", "Nevada", "New Hampshire", "New Jersey", "New Mexico", "New York",
    "North Carolina", "North Dakota", "Ohio", "Oklahoma", "Oregon", "Pennsylvania", "Rhode Island",
    "South Carolina", "South Dakota", "Tennessee", "Texas", "Utah", "Vermont", "Virginia", "Washington",
    "West Virginia", "Wisconsin", "Wyoming",
}  # fmt: skip
REGIONS = {
    "en_US": US_STATES,
    "en_GB": {
        "North East", "North West", "Yorkshire and the Humber", "East Midlands", "West Midlands",
        "East of England", "London", "South East", "South West", "Scotland", "Wales", "Northern Ireland",
    },
    "de_DE": {
        "Baden-Württemberg", "Bayern", "Berlin", "Brandenburg", "Bremen", "Hamburg", "Hessen",
        "Mecklenburg-Vorpommern", "Niedersachsen", "Nordrhein-Westfalen", "Rheinland-Pfalz", "Saarland",
        "Sachsen", "Sachsen-Anhalt", "Schleswig-Holstein", "Thüringen",
    },
    "fr_FR": {
        "Auvergne-Rhône-Alpes", "Bourgogne-Franche-Comté", "Bretagne", "Centre-Val de Loire", "Corse",
        "Grand Est", "Hauts-de-France", "Île-de-France", "Normandie", "Nouvelle-Aquitaine", "Occitanie",
        "Pays de la Loire", "Provence-Alpes-Côte d'Azur",
    },
}  # fmt: skip
# (lat_min, lat_max, lon_min, lon_max) of the country (contiguous US; metropolitan France with Corsica)
BOXES = {
    "en_US": (24.5, 49.5, -125.0, -66.9),
    "en_GB": (49.8, 60.9, -8.2, 1.8),
    "de_DE": (47.2, 55.1, 5.8, 15.1),
    "fr_FR": (41.3, 51.1, -5.2, 9.6),
}
COUNTRY = {"en_US": "United States", "en_GB": "United Kingdom", "de_DE": "Germany", "fr_FR": "France"}
LARGEST = {"en_US": "New York", "en_GB": "London", "de_DE": "Berlin", "fr_FR": "Paris"}


# --- cities -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("locale", SUPPORTED_LOCALES)
def test_cities_load_for_every_locale(locale: str) -> None:
    c = load_cities(locale)
    n = len(c.city)
    assert n >= 30
    assert c.country == COUNTRY[locale]
    for arr in (c.region, c.population, c.latitude, c.longitude):
        assert arr.shape == (n,)
    assert c.population.dtype == np.int64
    assert c.latitude.dtype == np.float64 and c.longitude.dtype == np.float64
    assert (c.population > 0).all()
    assert len(set(c.city)) == n
    assert all(isinstance(r, str) and r.strip() for r in c.region)
    assert set(c.region) <= REGIONS[locale]
    np.testing.assert_allclose(c.weights.sum(), 1.0)
    assert (c.weights > 0).all()
    lat0, lat1, lon0, lon1 = BOXES[locale]
    assert ((c.latitude > lat0) & (c.latitude < lat1)).all()
    assert ((c.longitude > lon0) & (c.longitude < lon1)).all()
    assert c.city[np.argmax(c.population)] == LARGEST[locale]


def test_cities_spot_checks() -> None:
    de = load_cities("de_DE")
    region = dict(zip(de.city, de.region, strict=True))
    assert region["München"] == "Bayern"
    assert region["Köln"] == "Nordrhein-Westfalen"
    assert len(set(de.region)) == 16  # every Bundesland
    gb = load_cities("en_GB")
    assert dict(zip(gb.city, gb.region, strict=True))["Edinburgh"] == "Scotland"
    us = load_cities("en_US")
    assert dict(zip(us.city, us.region, strict=True))["Houston"] == "Texas"


def test_cached_arrays_are_read_only() -> None:
    c = load_cities("en_US")
    assert load_cities("en_US") is c
    with pytest.raises(ValueError):
        c.population[0] = 1
    with pytest.raises(ValueError):
        name_pools("en_US").last_p[0] = 1.0


# --- taxonomy -----------------------------------------------------------------------------------------


def test_taxonomy_shape_and_values() -> None:
    t = load_taxonomy()
    n = len(t.subcategory)
    assert len(set(t.department)) >= 8
    assert n >= 60
    assert len(set(t.subcategory)) == n
    for arr in (t.department, t.category, t.price_median, t.price_sigma, t.private_label_share):
        assert arr.shape == (n,)
    assert len(t.nouns) == n
    assert (t.price_median > 0).all() and (t.price_median < 400).all()
    assert ((t.price_sigma >= 0.2) & (t.price_sigma <= 0.6)).all()
    assert ((t.private_label_share >= 0.1) & (t.private_label_share <= 0.45)).all()
    assert all(3 <= len(nouns) <= 8 and all(nouns) for nouns in t.nouns)
    # a category belongs to exactly one department
    pairs = set(zip(t.category, t.department, strict=True))
    assert len({c for c, _ in pairs}) == len(pairs)


# --- errors -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "call",
    [
        lambda: load_cities("xx_XX"),
        lambda: name_pools("en_AU"),
        lambda: sample_people(np.random.default_rng(0), 3, "nl_NL", np.ones(3, bool)),
        lambda: make_phones(np.random.default_rng(0), 3, "es_ES"),
        lambda: make_street_addresses(np.random.default_rng(0), 3, "it_IT"),
        lambda: make_brands(np.random.default_rng(0), 3, "ja_JP"),
    ],
)
def test_unknown_locale_raises_config_error_naming_allowed(call) -> None:
    with pytest.raises(ConfigError) as info:
        call()
    for locale in SUPPORTED_LOCALES:
        assert locale in str(info.value)


def test_bad_arguments_raise() -> None:
    rng = np.random.default_rng(0)
    first, last = sample_people(rng, 3, "en_US", np.array([True, False, True]))
    with pytest.raises(ValueError):
        sample_people(rng, 3, "en_US", np.array([True, False]))
    with pytest.raises(ValueError):
        make_emails(rng, first, last, "en_US", np.array([1, 2]))
    with pytest.raises(ValueError):
        make_emails(rng, first, last, "en_US", np.array([1, -2, 3]))


# --- pools and samplers -------------------------------------------------------------------------------


@pytest.mark.parametrize("locale", SUPPORTED_LOCALES)
def test_name_pools(locale: str) -> None:
    p = name_pools(locale)
    assert name_pools(locale) is p  # built once
    for names, prob in (
        (p.first_female, p.first_female_p),
        (p.first_male, p.first_male_p),
        (p.last, p.last_p),
        (p.email_domains, p.email_domains_p),
    ):
        assert len(names) == len(prob) > 0
        assert len(set(names)) == len(names)
        np.testing.assert_allclose(prob.sum(), 1.0)
        assert (prob > 0).all()
    assert len(p.first_female) >= 50 and len(p.last) >= 300
    assert len(p.street_names) >= 200 and len(set(p.street_names)) == len(p.street_names)
    assert len(p.brand_words) >= 100
    assert p.phone_formats and all(
        re.fullmatch(r"[0-9# +\-().]{7,20}", f) and "#" in f for f in p.phone_formats
    )


@pytest.mark.parametrize("locale", SUPPORTED_LOCALES)
def test_emails_and_phones_match_regexes(locale: str) -> None:
    n = 10_000
    rng = np.random.default_rng(123)
    first, last = sample_people(rng, n, locale, rng.random(n) < 0.5)
    ids = rng.permutation(np.arange(1, n + 1)) * 7
    emails = make_emails(rng, first, last, locale, ids)
    phones = make_phones(rng, n, locale)
    assert emails.shape == phones.shape == (n,)
    assert emails.dtype == object and phones.dtype == object
    assert all(EMAIL_RE.match(e) for e in emails), [e for e in emails if not EMAIL_RE.match(e)][:5]
    assert all(PHONE_RE.match(ph) for ph in phones), [ph for ph in phones if not PHONE_RE.match(ph)][:5]
    assert len(set(emails)) == n  # unique ids -> unique addresses
    assert all(e.split("@")[0].endswith(str(i)) for e, i in zip(emails[:200], ids[:200], strict=True))
    assert set(e.split("@")[1] for e in emails) <= set(name_pools(locale).email_domains)
    assert len(set(phones)) > 0.95 * n


@pytest.mark.parametrize(
    ("locale", "first", "last", "expected"),
    [
        ("de_DE", "Jürgen", "Groß", {"juergen", "gross"}),
        ("de_DE", "Zoë", "Müller-Lüdenscheidt", {"zoe", "mueller-luedenscheidt"}),
        ("fr_FR", "Hélène", "Lefèvre", {"helene", "lefevre"}),
        ("fr_FR", "Anne-Marie", "de la Cruz", {"anne-marie", "delacruz"}),
        ("en_GB", "Øyvind", "O'Brien", {"oyvind", "obrien"}),
    ],
)
def test_emails_transliterate_names(locale: str, first: str, last: str, expected: set[str]) -> None:
    n = 300
    emails = make_emails(
        np.random.default_rng(0),
        np.full(n, first, dtype=object),
        np.full(n, last, dtype=object),
        locale,
        np.arange(n),
    )
    assert all(EMAIL_RE.match(e) for e in emails)
    for part in expected:
        assert any(part in e for e in emails), part


@pytest.mark.parametrize("locale", SUPPORTED_LOCALES)
def test_people_follow_gender_and_pool(locale: str) -> None:
    rng = np.random.default_rng(5)
    female = rng.random(5000) < 0.5
    first, last = sample_people(rng, 5000, locale, female)
    pools = name_pools(locale)
    assert set(first[female]) <= set(pools.first_female)
    assert set(first[~female]) <= set(pools.first_male)
    assert set(last) <= set(pools.last)
    assert len(set(last)) > 100


@pytest.mark.parametrize("locale", SUPPORTED_LOCALES)
def test_street_addresses_style(locale: str) -> None:
    addresses = make_street_addresses(np.random.default_rng(3), 2000, locale)
    assert addresses.shape == (2000,) and addresses.dtype == object
    assert all(isinstance(a, str) and a == a.strip() and "  " not in a for a in addresses)
    if locale == "de_DE":  # "Hauptstraße 12" / "12a"
        assert all(re.search(r" \d+[a-c]?$", a) for a in addresses)
    else:  # "12 Oak Street", "3 rue Victor Hugo", "3 bis rue ..."
        assert all(re.match(r"^\d+ ", a) for a in addresses)
    assert len(set(addresses)) > 1500


@pytest.mark.parametrize("locale", SUPPORTED_LOCALES)
def test_brands_unique(locale: str) -> None:
    rng = np.random.default_rng(9)
    brands = make_brands(rng, 3000, locale)
    assert brands.shape == (3000,) and len(set(brands)) == 3000
    assert all(isinstance(b, str) and b.strip() == b and b for b in brands)
    assert make_brands(rng, 0, locale).shape == (0,)


def test_brands_stay_unique_beyond_the_template_space() -> None:
    # fr_FR has ~400 brand words: ~160k two-word and template brands, so 180k need the numbered fallback
    brands = make_brands(np.random.default_rng(1), 180_000, "fr_FR")
    assert len(set(brands)) == 180_000


@pytest.mark.parametrize("locale", SUPPORTED_LOCALES)
def test_determinism_by_seed(locale: str) -> None:
    def run(seed: int) -> list[np.ndarray]:
        rng = np.random.default_rng(seed)
        female = rng.random(500) < 0.5
        first, last = sample_people(rng, 500, locale, female)
        return [
            first,
            last,
            make_emails(rng, first, last, locale, np.arange(500)),
            make_phones(rng, 500, locale),
            make_street_addresses(rng, 500, locale),
            make_brands(rng, 50, locale),
        ]

    a, b, c = run(42), run(42), run(43)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)
    assert any((x != z).any() for x, z in zip(a, c, strict=True))


def test_200k_people_in_one_vectorised_draw() -> None:
    """A whole shard's names in one call, each from the pool of its sex (speed: benchmarks/bench_generate.py)."""
    n = 200_000
    rng = np.random.default_rng(1)
    female = rng.random(n) < 0.5
    first, last = sample_people(rng, n, "de_DE", female)
    assert first.shape == last.shape == (n,)
    pools = name_pools("de_DE")
    assert set(first[female]) <= set(pools.first_female) and set(first[~female]) <= set(pools.first_male)
    assert set(last) <= set(pools.last) and len(set(last)) > 100


def test_module_does_no_work_at_import() -> None:
    # the loaders are cached functions, not module-level data
    assert not any(isinstance(v, np.ndarray) for v in vars(reference).values())
