"""cluster/slurm.py: the SLURM jobs it asks for, on GPU and CPU-only sites, and its bad input."""

import importlib.util
import os
from pathlib import Path

import pytest

from renoise.pipeline.security import temporary_security

SCRIPT = Path(__file__).resolve().parents[1] / "cluster" / "slurm.py"
spec = importlib.util.spec_from_file_location("slurm", SCRIPT)
slurm = importlib.util.module_from_spec(spec)
spec.loader.exec_module(slurm)


def options(*flags):
    return slurm.cluster_options(slurm.parser().parse_args(["quick", *flags]))


def test_by_default_each_job_books_one_gpu_and_its_worker_declares_it():
    made = options()
    assert made["job_extra_directives"] == ["--gres=gpu:1"]
    assert made["worker_extra_args"] == ["--resources", "GPU=1"]
    assert made["cores"] == 1 and made["processes"] == 1 and made["job_cpu"] == 8


def test_gpus_0_books_no_gres_and_declares_no_gpu_and_site_settings_pass_through():
    made = options("--gpus", "0", "--account", "proj42", "--qos", "short", "--partition", "cpu",
                   "--job-extra=--constraint=skylake", "--job-extra=--exclusive")
    assert made["job_extra_directives"] == ["--qos=short", "--constraint=skylake", "--exclusive"]
    assert made["worker_extra_args"] == [] and made["account"] == "proj42" and made["queue"] == "cpu"
    assert options("--gpus", "2")["job_extra_directives"] == ["--gres=gpu:2"]


def test_gpus_minus_one_is_one_line_and_exit_1_and_nothing_starts(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert slurm.main(["quick", "--gpus", "-1"]) == 1
    err = capsys.readouterr().err
    assert err == "slurm.py: error: --gpus: expected 0 or more GPUs per job, got -1\n"
    assert list(tmp_path.iterdir()) == []  # no certificate made, no cluster asked for


def test_the_temporary_certificate_is_written_mode_0600_and_makes_a_tls_security(tmp_path):
    pytest.importorskip("cryptography")
    security, files = temporary_security(tmp_path / ".dask-tls")
    for path in files.values():
        assert os.stat(path).st_mode & 0o777 == 0o600
    assert Path(files["cert"]).read_text().startswith("-----BEGIN CERTIFICATE-----")
    assert security.require_encryption and security.tls_ca_file == files["ca"]


@pytest.mark.cluster
@pytest.mark.parametrize("gpus, gres", [("1", True), ("0", False)])
def test_the_job_script_asks_slurm_for_exactly_what_the_flags_say(gpus, gres):
    jobqueue = pytest.importorskip("dask_jobqueue")
    made = options("--gpus", gpus, "--account", "proj42", "--qos", "short")
    with jobqueue.SLURMCluster(**made, scheduler_options={"host": "127.0.0.1", "dashboard_address": "127.0.0.1:0"}) as cluster:
        script = cluster.job_script()
    assert ("#SBATCH --gres=gpu:1" in script) == gres and ("GPU=1" in script) == gres
    assert "#SBATCH -A proj42" in script and "#SBATCH --qos=short" in script


@pytest.mark.cluster
def test_the_jobs_join_a_tls_scheduler_with_the_written_certificate(tmp_path):
    jobqueue = pytest.importorskip("dask_jobqueue")
    pytest.importorskip("cryptography")
    security, files = temporary_security(tmp_path / ".dask-tls")
    made = slurm.cluster_options(slurm.parser().parse_args(["quick", "--gpus", "0"]), security)
    with jobqueue.SLURMCluster(**made, scheduler_options={"host": "127.0.0.1", "dashboard_address": "127.0.0.1:0"}) as cluster:
        script = cluster.job_script()
        address = cluster.scheduler_address
    assert address.startswith("tls://127.0.0.1:") and f"{address}" in script
    assert f"--tls-key {files['key']}" in script and f"--tls-ca-file {files['ca']}" in script
    assert "--gres" not in script and "GPU=" not in script
