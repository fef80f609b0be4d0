"""The analyst database: masked at rest, checked before it replaces yesterday's, and read only
through `custodian sql`'s sandbox, by roles that may.

The marts are built here with every column the data dictionary declares for them (so a new mart
column is covered the day it is added) and filled with people's values; the bypass battery
then tries what an analyst could type to get those values back.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from dagster_project import settings
from dagster_project.cli import EXIT_BAD_INPUT, EXIT_REFUSED, app
from dagster_project.config import AnalyticsConfig, MaskingConfig, load_config
from dagster_project.lib.monitoring.events import ensure_monitoring_tables
from dagster_project.lib.privacy import analytics as analytics_module
from dagster_project.lib.privacy.access import read_access_log, verify_access_log
from dagster_project.lib.privacy.analytics import build_analytics_database
from dagster_project.lib.privacy.masking import MaskingError, pseudonym
from tests.support.database import open_database

runner = CliRunner()
PEOPLE = 40


def _person_value(column: str, data_type: str, i: int) -> object:
    by_column = {
        "full_name": f"欧阳明{chr(0x4E00 + i)}",
        "name_original_script": f"欧阳明{chr(0x4E00 + i)}",
        "name_pinyin": f"ouyang ming{i:03d}",
        "mobile_phone_e164": f"+86138{i:08d}",
        "landline_phone_e164": f"+86105{i:07d}",
        "email": f"person{i:03d}@example.cn",
        "national_id": f"11010519850101{i:03d}X",
        "address_line": f"朝阳路{i}号院{i}栋",
        "billing_address_line": f"建国门外大街{i}号",
        "city": "北京市" if i % 2 else "杭州市",
        "district": "朝阳区" if i % 2 else "西湖区",
        "province": "北京市" if i % 2 else "浙江省",
        "admin_division_code": "110105" if i % 2 else "330106",
        "postal_code": "100020" if i % 2 else "310013",
        "gender": "M" if i % 2 else "F",
        "golden_customer_id": f"GC{i:07d}",
        "record_key": f"crm:C{100000 + i}",
        "source_record_id": f"C{100000 + i}",
        "source_name": "crm",
        "field": "email",
        "rule": "trust_rank",
        "company_name": "示例科技有限公司",
        "membership_level": "Gold",
        "lifecycle_stage": "active",
        "country_code": "CN",
    }
    if column in by_column:
        return by_column[column]
    data_type = data_type.lower()
    if data_type == "date":
        birth_date = f"19{60 + i % 40}-0{1 + i % 9}-1{i % 10}"
        return birth_date if column == "date_of_birth" else "2026-11-01"
    if data_type.startswith("timestamp"):
        return "2026-11-02 10:00:00"
    if data_type == "boolean":
        return i % 2 == 0
    if data_type in ("bigint", "integer"):
        return i
    if data_type == "double":
        return 0.5
    if data_type.endswith("[]"):
        return ["crm", "erp_billing"]
    return f"value {i}"


def _published_marts(path: Path) -> dict[str, list[dict]]:
    """`main.<mart>` for each mart of the data dictionary, PEOPLE rows of people's values."""
    spec = yaml.safe_load(
        (settings.dbt_project_dir() / "models" / "marts" / "_marts__models.yml").read_text("utf-8")
    )
    rows_by_table = {}
    with open_database(path) as con:
        for model in spec["models"]:
            columns = [(c["name"], c["data_type"]) for c in model["columns"]]
            con.execute(
                f"create table main.{model['name']} ("
                + ", ".join(f'"{name}" {data_type}' for name, data_type in columns)
                + ")"
            )
            rows = [
                {name: _person_value(name, data_type, i) for name, data_type in columns}
                for i in range(PEOPLE)
            ]
            placeholders = ", ".join("?" for _ in columns)
            con.executemany(
                f"insert into main.{model['name']} values ({placeholders})",
                [[row[name] for name, _ in columns] for row in rows],
            )
            rows_by_table[model["name"]] = rows
    return rows_by_table


PERSONAL_COLUMNS = (
    "full_name", "name_original_script", "name_pinyin", "mobile_phone_e164",
    "landline_phone_e164", "email", "national_id", "address_line", "billing_address_line",
    "golden_customer_id", "record_key", "source_record_id",
)  # fmt: skip


@pytest.fixture(scope="module")
def _analyst_database(tmp_path_factory: pytest.TempPathFactory):
    """A warehouse with published marts and its analyst database, built once for the module
    (no test here changes either; the failing build below writes beside them)."""
    root = tmp_path_factory.mktemp("analytics")
    warehouse = root / "warehouse" / "custodian.duckdb"
    warehouse.parent.mkdir()
    rows = _published_marts(warehouse)
    config = load_config(settings.PROJECT_ROOT / "governance.yaml")
    with open_database(warehouse) as con:
        build = build_analytics_database(
            con, warehouse.parent / "analytics.duckdb", config.analytics, config.masking
        )
    assert build.passed, build.checks
    personal = {
        str(row[column])
        for table_rows in rows.values()
        for row in table_rows
        for column in PERSONAL_COLUMNS
        if column in row
    }
    return warehouse, personal


@pytest.fixture
def analyst_env(_analyst_database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """The module's databases, the shipped config, and an access log of this test's own."""
    warehouse, personal = _analyst_database
    monkeypatch.setenv("CUSTODIAN_WAREHOUSE", str(warehouse))
    monkeypatch.setenv("CUSTODIAN_CONFIG", str(settings.PROJECT_ROOT / "governance.yaml"))
    monkeypatch.delenv("CUSTODIAN_ANALYTICS", raising=False)
    monkeypatch.setenv("CUSTODIAN_ACCESS_LOG", str(tmp_path / "access_log.jsonl"))
    monkeypatch.chdir(tmp_path)
    return tmp_path, personal


def _sql(*args: str, user: str = "analyst"):
    return runner.invoke(app, ["sql", "--as", user, *args])


def test_every_column_is_stored_masked_by_its_class(analyst_env) -> None:
    with open_database(settings.analytics_path(), read_only=True) as con:
        row = con.execute(
            "select full_name, mobile_phone_e164, email, national_id, date_of_birth_year, city, "
            "province, membership_level, postal_code from golden_customers "
            "where golden_customers.membership_level = 'Gold' order by mobile_phone_e164 limit 1"
        ).fetchone()
        columns = {
            c for (c,) in con.execute(
                "select column_name from information_schema.columns "
                "where table_name = 'golden_customers'"
            ).fetchall()
        }  # fmt: skip
    name, phone, email, national_id, birth_year, city, province, level, postal = row
    assert name == "欧***"
    assert phone == "138****0000"
    assert email == "p***@example.cn"
    assert national_id == "***"  # the dictionary classes it sensitive: never partial
    assert isinstance(birth_year, int)
    assert 1960 <= birth_year < 2000
    assert "date_of_birth" not in columns  # generalised to date_of_birth_year
    assert city == province  # generalised to the province
    assert level == "Gold"  # class none: as it is
    assert postal == "31****"


def test_join_keys_are_keyed_pseudonyms_that_still_join(analyst_env) -> None:
    with open_database(settings.analytics_path(), read_only=True) as con:
        joined = con.execute(
            "select count(*) from customer_source_xref x "
            "join golden_customers g using (golden_customer_id) "
            "join golden_field_lineage l on l.record_key = x.record_key"
        ).fetchone()[0]
        ids = [
            r[0] for r in con.execute("select golden_customer_id from golden_customers").fetchall()
        ]
    assert joined == PEOPLE
    assert all(len(i) == 16 and not i.startswith("GC") for i in ids)


def test_a_missing_key_is_a_clear_error(analyst_env, monkeypatch) -> None:
    root, _ = analyst_env
    monkeypatch.delenv("CUSTODIAN_MASKING_SALT")
    config = load_config(settings.PROJECT_ROOT / "governance.yaml")
    with (
        open_database(settings.warehouse_path(), read_only=True) as con,
        pytest.raises(MaskingError) as error,
    ):
        build_analytics_database(con, root / "analytics.duckdb", config.analytics, config.masking)
    assert "CUSTODIAN_MASKING_SALT" in str(error.value)
    assert "not set" in str(error.value)


def test_a_build_that_fails_its_check_keeps_yesterdays_database(analyst_env, monkeypatch) -> None:
    root, _ = analyst_env
    yesterday = root / "analytics.duckdb"
    yesterday.write_bytes(settings.analytics_path().read_bytes())
    before = yesterday.read_bytes()
    # A masking defect: every value stored as it is.
    monkeypatch.setattr(analytics_module, "classified_masker", lambda column, pii: str)
    with open_database(settings.warehouse_path()) as con:
        build = build_analytics_database(con, yesterday, AnalyticsConfig(), MaskingConfig())
    assert not build.passed
    failed = {check.name: check.metadata for check in build.checks if not check.passed}
    leaks = failed["no_personal_value_in_clear"]["distinct values in clear, by column"]
    assert leaks["golden_customers.full_name"] == PEOPLE
    assert yesterday.read_bytes() == before
    assert (root / "analytics.duckdb.new").exists()


def test_a_generalisation_naming_no_column_is_refused(analyst_env) -> None:
    root, _ = analyst_env
    config = AnalyticsConfig(generalise={"city": "prefecture"})
    with (
        open_database(settings.warehouse_path(), read_only=True) as con,
        pytest.raises(analytics_module.AnalyticsError, match="prefecture"),
    ):
        build_analytics_database(con, root / "analytics.duckdb", config, MaskingConfig())


BYPASSES = {
    "alias": "select email as e, full_name as who from golden_customers",
    "lower": "select lower(email), upper(name_pinyin) from golden_customers",
    "substr": "select substr(national_id, 1, 18), substr(mobile_phone_e164, 1, 20) "
    "from golden_customers",
    "concat": "select concat(full_name, '|', email) from golden_customers",
    "cast": "select cast(email as blob), cast(golden_customer_id as varchar) from golden_customers",
    "regexp": "select regexp_extract(email, '(.*)@', 1) from golden_customers",
    "list": "select list(email), list(full_name) from golden_customers",
    "struct": "select {'e': email, 'p': mobile_phone_e164} from golden_customers",
    "string_agg": "select string_agg(address_line, ';') from golden_customers",
    "join": "select x.record_key, g.email from customer_source_xref x "
    "join golden_customers g using (golden_customer_id)",
}
REFUSED = {
    "copy": "copy golden_customers to 'leak.csv'",
    "copy_select": "copy (select * from golden_customers) to '/tmp/custodian-leak.csv'",
    "export": "export database '/tmp/custodian-leak'",
    "attach": "attach '{warehouse}' as w",
    "read_csv": "select * from read_csv('{config}')",
    "read_text": "select * from read_text('{config}')",
    "glob": "select * from glob('/etc/*')",
    "replacement_scan": "select * from '{warehouse}'",
    "warehouse_table": "select * from read_parquet('{warehouse}')",
    "install": "install httpfs",
    "load": "load httpfs",
    "set": "set enable_external_access = true",
    "pragma": "pragma enable_profiling",
    "multi": "select 1; copy golden_customers to 'leak.csv'",
    "temp_table": "create temp table t as select * from golden_customers",
    "delete": "delete from golden_customers",
    "empty": "   ",
    "invalid": "selec email from golden_customers",
}


@pytest.mark.parametrize("query", BYPASSES.values(), ids=BYPASSES)
def test_no_expression_shows_a_personal_value(analyst_env, query: str) -> None:
    _, personal = analyst_env
    result = _sql("--format", "json", query)
    assert result.exit_code == 0, result.output
    shown = json.dumps(json.loads(result.stdout), ensure_ascii=False)
    assert len(shown) > 20
    leaked = [value for value in personal if value in shown]
    assert not leaked, leaked[:5]


@pytest.mark.parametrize("query", REFUSED.values(), ids=REFUSED)
def test_files_settings_extensions_and_writes_are_refused(analyst_env, query: str) -> None:
    root, _ = analyst_env
    query = query.format(
        warehouse=settings.warehouse_path(), config=settings.PROJECT_ROOT / "governance.yaml"
    )
    result = _sql(query)
    assert result.exit_code == EXIT_BAD_INPUT, result.output
    assert "error:" in result.output
    assert "Traceback" not in result.output
    assert not (root / "leak.csv").exists()
    assert not Path("/tmp/custodian-leak.csv").exists()


def test_output_is_literal_and_csv_json_round_trip(analyst_env) -> None:
    odd = "select '[true]' as a, 'x [/] y' as b, ':x: 😀' as c, '[bold]z[/bold]' as d"
    table = _sql(odd)
    assert table.exit_code == 0, table.output
    for value in ("[true]", "x [/] y", ":x: 😀", "[bold]z[/bold]"):
        assert value in table.stdout
    query = "select golden_customer_id, full_name, source_count from golden_customers order by 1"
    with open_database(settings.analytics_path(), read_only=True) as con:
        expected = [tuple(str(v) for v in row) for row in con.execute(query).fetchall()]
    as_csv = _sql("--format", "csv", query)
    assert as_csv.exit_code == 0
    parsed = list(csv.reader(io.StringIO(as_csv.stdout)))
    assert parsed[0] == ["golden_customer_id", "full_name", "source_count"]
    assert [tuple(row) for row in parsed[1:]] == expected
    as_json = _sql("--format", "json", query)
    records = json.loads(as_json.stdout)
    assert [tuple(str(r[k]) for k in ("golden_customer_id", "full_name", "source_count"))
            for r in records] == expected  # fmt: skip
    assert len(records) == PEOPLE  # csv and json are not cut at the table's 50 rows


ROLE_CASES = [
    # user, command, expected exit code
    ("analyst", ["sql", "select count(*) from golden_customers"], 0),
    ("analyst", ["sql", "--warehouse", "select count(*) from main.golden_customers"], 3),
    ("analyst", ["sql", "--unmasked", "select email from main.golden_customers"], 3),
    ("analyst", ["review", "list"], 3),
    ("analyst", ["access-log"], 3),
    ("steward", ["sql", "select count(*) from golden_customers"], 0),
    ("steward", ["sql", "--warehouse", "select 1"], 3),
    ("engineer", ["sql", "--warehouse", "select email from main.golden_customers"], 0),
    ("engineer", ["sql", "--unmasked", "select email from main.golden_customers"], 3),
    ("admin", ["sql", "--unmasked", "select email from main.golden_customers"], 0),
    ("admin", ["access-log"], 0),
    ("mallory", ["sql", "select 1"], 3),
]


@pytest.mark.parametrize(("user", "argv", "code"), ROLE_CASES)
def test_each_role_is_allowed_and_refused_as_configured(analyst_env, user, argv, code) -> None:
    result = runner.invoke(app, [*argv, "--as", user])
    assert result.exit_code == code, result.output
    entries = list(read_access_log(settings.access_log_path()))
    last = entries[-1]
    assert last["user"] == user
    if code == EXIT_REFUSED:
        assert last["outcome"] == "refused"
        text = " ".join(result.output.split())
        assert ("has no role" in text) if user == "mallory" else ("held by the role(s)" in text)
    else:
        assert last["outcome"] == "ok"
    assert verify_access_log(settings.access_log_path()) == []


def test_the_access_log_has_who_role_query_without_literals_and_rows(analyst_env) -> None:
    # Filtering on a masked value finds nothing: the clear value is not there to match.
    none = _sql("select email from golden_customers where email = 'person001@example.cn'")
    assert none.exit_code == 0
    assert "0 row(s)" in none.stdout
    result = _sql("select email from golden_customers where source_count > 5 limit 3")
    assert result.exit_code == 0
    _, entry = list(read_access_log(settings.access_log_path()))
    assert entry["user"] == "analyst"
    assert entry["role"] == "analyst"
    assert entry["action"] == "sql analytics"
    assert entry["detail"] == "select email from golden_customers where source_count > ? limit ?"
    assert entry["rows"] == 3
    assert entry["outcome"] == "ok"


def test_an_edited_access_log_is_found(analyst_env) -> None:
    for _ in range(3):
        assert _sql("select 1").exit_code == 0
    path = settings.access_log_path()
    lines = path.read_text(encoding="utf-8").splitlines()
    lines[1] = lines[1].replace('"rows": 1', '"rows": 0')
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert verify_access_log(path) == ["entry 2: changed after it was written"]
    shown = runner.invoke(app, ["access-log", "--as", "admin"])
    assert shown.exit_code == 1
    assert "altered" in shown.output
    path.write_text("\n".join([lines[0], lines[2]]) + "\n", encoding="utf-8")
    assert verify_access_log(path) == ["entry 2: does not follow entry 1 (removed or moved)"]


def test_golden_customers_carry_each_customers_risk_tier(analyst_env) -> None:
    root, _ = analyst_env
    warehouse = root / "warehouse.duckdb"
    warehouse.write_bytes(settings.warehouse_path().read_bytes())
    config = load_config(settings.PROJECT_ROOT / "governance.yaml")
    with open_database(warehouse) as con:
        ensure_monitoring_tables(con)
        con.execute(
            "insert into monitoring.customer_risk (golden_customer_id, risk_points, risk_tier) "
            "values ('GC0000003', 25, 'high'), ('GC0000004', 12, 'medium')"
        )
        build = build_analytics_database(
            con, root / "analytics.duckdb", config.analytics, config.masking
        )
    assert build.passed, build.checks
    with open_database(build.path, read_only=True) as con:
        tiers = dict(
            con.execute("select risk_tier, count(*) from golden_customers group by 1").fetchall()
        )
        risk = dict(
            con.execute(
                "select golden_customer_id, (risk_tier, risk_points) from golden_customers "
                "where risk_points > 0"
            ).fetchall()
        )
    assert tiers == {"high": 1, "medium": 1, "low": PEOPLE - 2}
    # Under the customer's pseudonym, as every other mart shows it.
    assert risk == {
        pseudonym("GC0000003"): ("high", 25),
        pseudonym("GC0000004"): ("medium", 12),
    }


def test_withdrawn_marketing_consent_leaves_the_contact_fields_empty(analyst_env) -> None:
    # Every other person of the marts has withdrawn consent (consent_marketing false).
    withheld = AnalyticsConfig().withhold_without_marketing_consent
    with open_database(settings.analytics_path(), read_only=True) as con:
        by_consent = dict(
            con.execute(
                "select consent_marketing, list(("
                + ", ".join(withheld)
                + ")) from golden_customers group by 1"
            ).fetchall()
        )
        kept = con.execute(
            "select count(*) from golden_customers where consent_marketing = false "
            "and full_name is not null and membership_level is not null"
        ).fetchone()[0]
    assert len(by_consent[False]) == PEOPLE // 2
    assert all(value is None for row in by_consent[False] for value in row)
    assert all(value is not None for row in by_consent[True] for value in row)
    # Only the contact fields go: the customer is still there for analysis.
    assert kept == PEOPLE // 2
