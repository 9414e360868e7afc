"""Mutation testing by hand: plant each mutant of ``tests/MUTANTS.md`` in a copy of the
repository and run the tests that must kill it. Not run by CI (minutes per pass).

    python tests/mutants.py                 # every mutant against its killing tests
    python tests/mutants.py --full          # against the whole suite (much slower)
    python tests/mutants.py --nojit         # the same under NUMBA_DISABLE_JIT=1
    python tests/mutants.py NAME [NAME ...] # some mutants only

Prints one line per mutant (KILLED by which tests, or SURVIVED) and exits 1 if
any survived or if the unmutated copy fails its tests.
"""

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@dataclass(frozen=True)
class Mutant:
    name: str
    edits: tuple  # (path, old, new[, count]): old must occur exactly count (default 1) times in path
    killers: tuple  # pytest node ids (or -k expressions after "-k ") expected to fail


K, S, R, C, W, E = (f"fastbackprop/{m}.py" for m in ("_kernels", "sweeps", "reference", "_cuda", "store", "_execution"))
S_ = "fastbackprop/_seeding.py"
_LR_OUTPUT_AS_LR = (
    '    if name == "lr_output":  # None is "the same as lr": a part without it and one with lr\'s value agree\n'
    "        values = [r.lr if v is None else v for r, v in zip(results, values)]\n"
)
_ONE_SCALAR = (
    "    scalars = [v for v in values if not isinstance(v, np.ndarray)]\n"
    "    if len(scalars) == len(values) and all(v == scalars[0] for v in scalars):\n"
    "        return scalars[0]\n"
)
_COMPILED_IN = "    return variant.max_registers, WORST_SAMPLE_FIRST, *_reciprocals()\n"

MUTANTS = (
    Mutant(
        "exp64-coefficient",
        ((K, "_fma(r, 1.0 / 362880.0, ", "_fma(r, 1.0 / 362881.0, "),),
        ("tests/test_kernels.py::test_exp_accuracy",),
    ),
    Mutant(
        "exp32-coefficient",
        ((K, "_fma(r, f(1.0 / 120.0), ", "_fma(r, f(1.0 / 121.0), "),),
        ("tests/test_kernels.py::test_exp_accuracy",),
    ),
    Mutant(
        "seed-offset-bit",
        ((S_, "0x2545F4914F6CDD1D", "0x2545F4914F6CDD1C"),),
        ("tests/test_kernels.py::test_seed_map_is_pinned",),
    ),
    Mutant(
        "epochs-to-tol-off-by-one-everywhere",
        (
            (K, "etl[lane] = e + 1", "etl[lane] = e", 2),  # the block's loss and the one-lane loss
            (R, "below.argmax(axis=1) + 1", "below.argmax(axis=1)"),
            (C, "etl = e + 1", "etl = e"),
        ),
        ("tests/test_sweep.py::test_float64_rows_are_bit_identical_to_network_train",),
    ),
    Mutant(
        "float32-sweep-computed-in-float64",
        (
            (E, 'object.__setattr__(self, "_Xf", self.X.astype(F))', 'object.__setattr__(self, "_Xf", self.X)'),
            (E, 'object.__setattr__(self, "_yf", self.y.astype(F))', 'object.__setattr__(self, "_yf", self.y)'),
        ),
        ("tests/test_sweep.py::test_float32_matches_float32_reference_and_is_computed_in_float32",),
    ),
    Mutant(
        "float64-constant-in-float32-partials",
        ((K, "d_L_d_ypred = _like(x0, -2.0) * (y - ypred)", "d_L_d_ypred = -2.0 * (y - ypred)"),),
        ("tests/test_kernels.py::test_float32_partials_are_computed_in_float32",),
    ),
    Mutant(
        "checksum-covers-params-only",
        (
            (W, "digest = np.str_(sha256(*named.values()))", "digest = np.str_(sha256(arrays[0]))"),
            (W, 'str(got["sha256"]) == sha256(*arrays)', 'str(got["sha256"]) == sha256(arrays[0])'),
        ),
        ("tests/test_store.py::test_damage_to_any_stored_array_is_caught",),
    ),
    Mutant(
        "fsync-dropped",
        ((W, "                os.fsync(f.fileno())\n", ""),),
        ("tests/test_store.py::test_every_file_is_synced_before_it_is_renamed_into_place",),
    ),
    Mutant(
        "gpu-kernel-contracts-fma",
        ((C, "**dict(options, fma=False)", "**options"),),
        ("tests/test_cuda.py::test_ptx_rounds_every_operation_as_the_cpu_does",),
    ),
    Mutant(
        "gpu-reciprocal-without-newton-step",
        ((K, "            return builder.call(fma, [r, e, r])", "            return r"),),
        ("tests/test_cuda.py::test_ptx_rounds_every_operation_as_the_cpu_does",),
    ),
    Mutant(
        "cache-entry-loaded-under-any-key",
        (("fastbackprop/_jit.py", "and stored[0] == key:", ":"),),
        ("tests/test_install.py::test_a_cache_entry_loads_only_under_its_own_key",),
    ),
    Mutant(
        "gpu-cache-key-without-register-cap",
        ((C, _COMPILED_IN, "    return 64, WORST_SAMPLE_FIRST, *_reciprocals()\n"),),
        (
            "tests/test_cuda.py::test_gpu_cache_key_changes_with_each_setting_compiled_in",
            "tests/test_cuda.py::test_a_kernel_compiled_before_a_setting_changed_is_not_handed_out_after",
        ),
    ),
    Mutant(
        "gpu-cache-key-without-worst-sample-first",
        ((C, _COMPILED_IN, "    return variant.max_registers, True, *_reciprocals()\n"),),
        (
            "tests/test_cuda.py::test_gpu_cache_key_changes_with_each_setting_compiled_in",
            "tests/test_cuda.py::test_a_kernel_compiled_before_a_setting_changed_is_not_handed_out_after",
        ),
    ),
    Mutant(
        "gpu-cache-key-without-reciprocal",
        ((C, _COMPILED_IN, "    return variant.max_registers, WORST_SAMPLE_FIRST, True, _reciprocals()[1]\n"),),
        (
            "tests/test_cuda.py::test_gpu_cache_key_changes_with_each_setting_compiled_in",
            "tests/test_cuda.py::test_a_kernel_compiled_before_a_setting_changed_is_not_handed_out_after",
        ),
    ),
    Mutant(
        "gpu-cache-key-without-float64-reciprocal",
        ((C, _COMPILED_IN, "    return variant.max_registers, WORST_SAMPLE_FIRST, _reciprocals()[0], False\n"),),
        (
            "tests/test_cuda.py::test_gpu_cache_key_changes_with_each_setting_compiled_in",
            "tests/test_cuda.py::test_a_kernel_compiled_before_a_setting_changed_is_not_handed_out_after",
        ),
    ),
    Mutant(
        "gpu-float64-reciprocal-low-word",
        ((K, "ir.Constant(i32, 0x300402)", "ir.Constant(i32, 0)"),),
        ("tests/test_cuda.py::test_float64_reciprocal_fast_path_is_ptxas_fast_path_in_the_ptx",),
    ),
    Mutant(
        "gpu-cached-kernel-with-lto",
        ((C, "cuda.jit(body, cache=cache, lto=False,", "cuda.jit(body, cache=cache,"),),
        ("tests/test_cuda.py::test_gpu_kernel_compiled_in_one_process_is_loaded_from_disk_in_the_next",),
    ),
    Mutant(
        "partial-uses-wrong-input",
        ((K, "d_h1_d_w2 = x1 * d_h1_d_sum", "d_h1_d_w2 = x0 * d_h1_d_sum"),),
        ("tests/test_kernels.py::test_gradient_vs_finite_differences",),
    ),
    Mutant(
        "sigmoid-clamped-too-early",
        ((K, "SIGMOID_CLAMP = 60.0", "SIGMOID_CLAMP = 30.0"),),
        ("tests/test_kernels.py::test_sigmoid_accuracy",),
    ),
    Mutant(
        "update-sign",
        ((K, "    p[B3 * stride + off] -= d[B3]", "    p[B3 * stride + off] += d[B3]"),),
        ("tests/test_kernels.py::test_train_matches_reference_full_run",),
    ),
    Mutant(
        "gpu-launch-rows-misplaced",
        ((E, "            at += hi - lo\n", ""),),
        ("tests/test_cuda.py::test_simulated_kernel_equals_cpu_sweep_for_every_option",),
    ),
    Mutant(
        "gpu-lr-output-ignored",
        ((C, "lr_i, lr_out_i, m_i = lr[i], lr_out[i], m[i]", "lr_i, lr_out_i, m_i = lr[i], lr[i], m[i]"),),
        ("tests/test_cuda.py::test_simulated_kernel_equals_cpu_sweep_for_every_option",),
    ),
    Mutant(
        "gpu-margin-ignored",
        ((C, "(outside == 0 if by_margin else loss < tol)", "loss < tol"),),
        ("tests/test_cuda.py::test_simulated_kernel_equals_cpu_sweep_for_every_option",),
    ),
    Mutant(
        "gpu-written-out-epoch-skips-a-sample",
        ((C, "for x0, x1, y in at]", "for x0, x1, y in at[1:]]"),),
        ("tests/test_cuda.py::test_simulated_kernel_equals_cpu_sweep_for_every_option",),
    ),
    Mutant(
        "gpu-init-scale-ignored",
        ((C, "uniform, scale[i], init)", "uniform, 1.0, init)"),),
        ("tests/test_cuda.py::test_simulated_kernel_equals_cpu_sweep_for_every_option",),
    ),
    Mutant(
        "lr-output-ignored",
        ((K, "    s_out = scale_out * d_L_d_ypred\n", "    s_out = scale * d_L_d_ypred\n"),),
        ("tests/test_options.py::test_each_option_matches_the_numpy_oracle_over_full_runs",),
    ),
    Mutant(
        "tanh-slope-of-sigmoid",
        ((K, "        return one - h * h  # tanh'", "        return h * (one - h)  # tanh'"),),
        ("tests/test_options.py::test_tanh_partials_match_finite_differences_and_the_oracle",),
    ),
    Mutant(
        "momentum-zero-not-exact",
        ((K, "    uk = d if m == _like(m, 0.0) else _fma(m, held, d)", "    uk = _fma(m, held, d)"),),
        ("tests/test_options.py::test_zero_momentum_lanes_beside_momentum_lanes_follow_plain_sgd_bit_for_bit",),
    ),
    Mutant(
        "velocity-overlaps-parameters",
        ((K, "_U = N_PARAMS  # first velocity row", "_U = N_PARAMS - 1  # first velocity row"),),
        ("tests/test_options.py::test_rows_are_bit_identical_to_network_over_a_random_matrix_of_options",),
    ),
    Mutant(
        "history-last-block-not-flushed",
        ((K, "if lane == LANES - 1 or e + 1 == epochs:", "if lane == LANES - 1:"),),
        ("tests/test_kernels.py::test_history_is_the_mse_after_each_epoch",),
    ),
    Mutant(
        "exp2i-magic-off-by-a-bit",
        ((K, "ir.Constant(args[0].type, 1.5 * 2.0**52)", "ir.Constant(args[0].type, 1.5 * 2.0**51)"),),
        ("tests/test_kernels.py::test_exp2i_is_exactly_two_to_the_k",),
    ),
    Mutant(
        "map-pixel-axes-swapped",
        (
            (
                "fastbackprop/_settings.py",
                "out[:, self.axes[0]] = self.coords0[rows % n0]",
                "out[:, self.axes[0]] = self.coords0[rows // n0 % n0]",
            ),
        ),
        ("tests/test_maps.py::test_every_init_map_pixel_is_a_network_bit_for_bit",),
    ),
    Mutant(
        "tol-sum-not-times-n",
        ((K, "    while T / nf < tol:", "    while T < tol:"),),
        (
            "tests/test_kernels.py::test_tol_sum_is_the_least_squared_error_that_shows_the_loss_not_below_tol",
            "tests/test_sweep.py::test_float64_rows_are_bit_identical_to_network_train",
        ),
    ),
    Mutant(
        "worst-sample-check-settles-every-lane",
        ((K, "if etl[lane] < 0 and not unmet:", "if etl[lane] < 0 and not unmet and lane < 0:"),),
        ("tests/test_sweep.py::test_float64_rows_are_bit_identical_to_network_train",),
    ),
    Mutant(
        "worst-sample-check-reads-lane-0s-sample",
        ((K, "        return lambda x, lane: x[lane]", "        return lambda x, lane: x[0]"),),
        ("tests/test_sweep.py::test_float64_rows_are_bit_identical_to_network_train",),
    ),
    Mutant(
        "undecided-lanes-lose-their-own-loss",
        ((K, "                                lane = todo[j]", "                                lane = todo[0]"),),
        ("tests/test_sweep.py::test_float64_rows_are_bit_identical_to_network_train",),
    ),
    Mutant(
        "gpu-worst-sample-threshold-too-low",
        ((C, '"    return err * err >= tol_sum",', '"    return err * err >= tol_sum * 0.25",'),),
        ("tests/test_cuda.py::test_simulated_kernel_equals_cpu_sweep_for_every_option",),
    ),
    Mutant(
        "rounding-bound-without-underflow",
        (
            ("tests/rounding.py", "U * abs(c) + ETA", "U * abs(c)"),
            ("tests/rounding.py", "U * abs(pk - g) + ETA", "U * abs(pk - g)"),
        ),
        ("tests/test_properties.py::test_property_kernel_and_reference_within_rounding_bound",),
    ),
    Mutant(
        "grid-margin-one-sample-outside-passes",
        (
            (
                K,
                "within_at_out[start + lane, r] = outside[lane] == 0",
                "within_at_out[start + lane, r] = outside[lane] <= 1",
            ),
        ),
        ("tests/test_grid.py::test_margin_cells_equal_separate_sweeps_bit_for_bit",),
    ),
    Mutant(
        "gpu-grid-margin-one-sample-outside-passes",
        ((C, "within_at_out[i, r] = outside == 0", "within_at_out[i, r] = outside <= 1"),),
        ("tests/test_cuda.py::test_simulated_kernel_equals_cpu_sweep_for_every_option",),
    ),
    Mutant(
        "store-within-at-not-in-the-checksum",
        (
            (W, "digest = np.str_(sha256(*named.values()))", "digest = np.str_(sha256(*arrays[:4]))"),
            (W, 'and str(got["sha256"]) == sha256(*arrays)', 'and str(got["sha256"]) == sha256(*arrays[:4])'),
        ),
        ("tests/test_store.py::test_damage_to_any_stored_array_is_caught",),
    ),
    Mutant(
        "store-chunks-written-through-links",
        ((W, "            ),\n            follow_links=False,\n", "            ),\n            follow_links=True,\n"),),
        ("tests/test_store.py::test_a_chunk_linked_to_another_store_is_replaced_not_written_through",),
    ),
    Mutant(
        "diverged-judged-by-the-loss-only",
        (
            (
                "fastbackprop/results.py",
                "return ~(np.isfinite(params).all(axis=1) & np.isfinite(final_loss))",
                "return ~np.isfinite(final_loss)",
            ),
        ),
        ("tests/test_sweep.py::test_a_parameter_overflowed_under_a_finite_loss_is_diverged",),
    ),
    Mutant(
        "oracle-promotes-float32-data",
        ((R, "    X = np.asarray(X, dtype=params.dtype)\n", ""),),
        ("tests/test_kernels.py::test_the_oracle_computes_in_the_dtype_of_params",),
    ),
    Mutant(
        "gpu-rows-queued-after-the-speed-is-recorded",
        (
            (
                E,
                "                pending.append(writer.submit(finish, unit, Rows(*gpu.collect())))\n"
                "                sizes.took(len(unit), queued, time.perf_counter())\n",
                "                rows = Rows(*gpu.collect())\n"
                "                sizes.took(len(unit), queued, time.perf_counter())\n"
                "                pending.append(writer.submit(finish, unit, rows))\n",
            ),
        ),
        ("tests/test_concurrency.py::test_ctrl_c_right_after_a_collect_loses_no_collected_launch",),
    ),
    Mutant(
        "gpu-empty-arrays-sliced",
        ((C, "        if 0 in shape:\n", "        if False:\n"),),
        (
            "tests/test_concurrency.py::test_gpu_launches_of_several_chunks_keep_every_row_of_an_empty_loss_history",
            "tests/test_emulated_gpu.py::test_sweeps_with_every_option_equal_the_cpu",
        ),
    ),
    Mutant(
        "gpu-store-one-writer",
        ((E, "STORE_WRITERS = 4\n", "STORE_WRITERS = 1\n"),),
        ("tests/test_concurrency.py::test_a_gpu_launch_reaches_a_store_from_several_writers",),
    ),
    Mutant(
        "gpu-other-device-contracts",
        ((C, '    kernel._codelibrary._nvvm_options["fma"] = False\n', ""),),
        ("tests/test_cuda.py::test_a_gpu_of_another_compute_capability_gets_the_kernel_without_contraction",),
    ),
    Mutant(
        "gpu-driver-errors-raw",
        ((C, "= (CudaDriverError,)\n", "= ()\n"),),
        (
            "tests/test_concurrency.py::"
            "test_a_gpu_that_fails_is_one_line_on_the_command_line_and_a_device_error_in_python",
        ),
    ),
    Mutant(
        "store-compares-tol-under-a-margin",
        ((W, '            adopted["tol"] = tol\n', "            pass\n"),),
        ("tests/test_store.py::test_with_a_margin_tol_may_differ_on_resume",),
    ),
    Mutant(
        "dask-stop-watch-per-task",
        ((E, "        watch = _WATCHES.get(stop)\n", "        watch = None\n"),),
        ("tests/test_distributed.py::test_a_worker_process_asks_once_a_second_for_all_its_tasks",),
    ),
    Mutant(
        "history-every-keeps-the-epoch-after",
        (("fastbackprop/network.py", "first * every - start - 1 :: every]", "first * every - start :: every]"),),
        ("tests/test_network.py::test_history_every_keeps_those_entries_of_the_full_history",),
    ),
    Mutant(
        "write-probe-left-behind",
        ((W, "        os.remove(probe)\n", "        pass\n"),),
        ("tests/test_store.py::test_an_output_is_tried_under_the_name_it_is_written_under_and_leaves_nothing",),
    ),
    Mutant(
        "output-may-replace-an-input",
        (("fastbackprop/cli.py", "if read_path and _same_file(path, read_path):", "if False:"),),
        ("tests/test_cli.py::test_two_outputs_on_one_path_are_refused_before_computing",),
    ),
    Mutant(
        "store-resumes-with-another-lr-output-or-init",
        (
            (
                W,
                "            default = OMITTED_AT_DEFAULT.get(key)\n",
                "            if key in ('lr_output', 'init'):\n                continue\n"
                "            default = OMITTED_AT_DEFAULT.get(key)\n",
            ),
        ),
        ("tests/test_store.py::test_other_settings_are_refused",),
    ),
    Mutant(
        "cli-trains-the-starts-permuted",
        (
            (
                "fastbackprop/cli.py",
                "            init_scale=args.init_scale,\n            params0=params0,\n",
                "            init_scale=args.init_scale,\n            params0=params0[::-1],\n",
                2,  # the sweep's call and the grid's
            ),
        ),
        ("tests/test_cli.py::test_grid_params0",),
    ),
    Mutant(
        "merge-ignores-the-seeds-planned",
        (("fastbackprop/merge.py", "        known.append(expected)\n", "        pass\n"),),
        ("tests/test_merge.py::test_the_seeds_planned_find_a_first_or_last_task_that_never_ran",),
    ),
    Mutant(
        "y-named-as-x",
        (("fastbackprop/_validation.py", 'y = as_real_array(y, "y")', 'y = as_real_array(y, "X")'),),
        ("tests/test_adversarial.py::test_bad_argument_is_named",),
    ),
    Mutant(
        "nans-as-the-code-left-them",
        ((E, "        rows = Rows(*canonical_nans(rows))\n", "        pass\n"),),
        (
            "tests/test_sweep.py::test_runs_that_overflow_end_with_the_one_quiet_nan_whatever_ran_them",
            "tests/test_cuda.py::test_simulated_kernel_equals_cpu_sweep_for_every_option",
        ),
    ),
    Mutant(
        "stored-nans-as-written",
        ((W, "        arrays = canonical_nans(arrays)  # a store written", "        pass  # a store written"),),
        ("tests/test_sweep.py::test_runs_that_overflow_end_with_the_one_quiet_nan_whatever_ran_them",),
    ),
    Mutant(
        "merge-compares-lr-output-before-reading-none-as-lr",
        (
            (  # the order before: parts compared as given, then None read as lr
                "fastbackprop/merge.py",
                _LR_OUTPUT_AS_LR + _ONE_SCALAR,
                _ONE_SCALAR + _LR_OUTPUT_AS_LR,
            ),
        ),
        ("tests/test_merge.py::test_a_part_without_lr_output_and_one_giving_lrs_value_merge_to_one_scalar",),
    ),
    Mutant(
        "npz-reader-opens-a-fifo",
        (
            (
                W,
                '    if not os.path.isfile(path):\n        raise ValueError(f"path',
                '    if False:\n        raise ValueError(f"path',
            ),
        ),
        ("tests/test_cli.py::test_a_fifo_given_to_read_is_refused_not_waited_on",),
    ),
    Mutant(
        "masked-values-taken",
        (("fastbackprop/_validation.py", "    if _is_masked(value) or _holds(value, _is_masked):", "    if False:"),),
        (
            "tests/test_adversarial.py::test_bad_argument_is_named",
            "tests/test_adversarial.py::test_bad_seed_arrays_are_named",
        ),
    ),
    Mutant(
        "dask-stop-event-left-set",
        ((E, "                _clear_later(stop, client)\n", "                pass\n"),),
        ("tests/test_distributed.py::test_ctrl_c_stops_the_workers_too",),
    ),
    Mutant(
        "dask-stop-event-cleared-by-the-client",
        ((E, "client.run_on_scheduler(clear_on_scheduler, name=stop,", "raise RuntimeError  # (name=stop,"),),
        ("tests/test_distributed.py::test_an_interrupted_sweeps_stop_event_is_cleared_when_its_client_is_gone",),
    ),
    Mutant(
        "dask-gpu-launch-unbounded",
        (
            (
                E,
                "    networks = min(CUDA_NETWORKS_PER_LAUNCH, CUDA_LAUNCH_BYTES // _device_bytes(plan.training))\n",
                "    networks = CUDA_NETWORKS_PER_LAUNCH\n",
            ),
        ),
        ("tests/test_cuda.py::test_a_dask_workers_gpu_launch_keeps_within_the_launch_bytes",),
    ),
    Mutant(
        "store-name-resolved-per-chunk",
        ((W, "        self.path = os.path.realpath(self.path)\n", "        pass\n"),),
        ("tests/test_store.py::test_a_sweep_writes_into_the_folder_it_locked_whatever_its_name_comes_to_mean",),
    ),
    Mutant(
        "ctrl-c-in-numpys-import-an-error",
        (("fastbackprop/__main__.py", "        if pressed:\n", "        if False:\n"),),
        ("tests/test_cli.py::test_ctrl_c_that_numpys_import_turns_into_an_import_error_is_an_interruption",),
    ),
    Mutant(
        "manifest-tol-believed",
        (("fastbackprop/_validation.py", '    "tol": check_positive_float,\n', '    "tol": lambda v, n: None,\n'),),
        ("tests/test_store.py::test_an_edited_manifest_is_refused_by_readers",),
    ),
    Mutant(
        "grid-divergence-not-recorded",
        ((S, "diverged[k, s : s + n] = diverged_rows(rows.params[part], rows.final_loss[part])", "pass"),),
        ("tests/test_grid.py::test_report_summary_diverged_and_computed",),
    ),
    Mutant(
        "partial-sweep-reported-complete",
        (
            (
                "fastbackprop/results.py",
                '            "complete": self.complete,\n            "epochs": self.epochs,\n',
                '            "complete": True,\n            "epochs": self.epochs,\n',
            ),
        ),
        ("tests/test_store.py::test_missing_truncated_and_corrupt_chunks_are_recomputed",),
    ),
    Mutant(
        "cli-names-lr-as-in-python",
        (("fastbackprop/cli.py", '    "lr lr_output epochs', '    "lr_output epochs'),),
        ("tests/test_cli.py::test_bad_training_options_one_line_exit_2",),
    ),
    Mutant(
        "info-fma-read-backwards",
        (("fastbackprop/_info.py", "asm) is None  # no call", "asm) is not None  # no call"),),
        ("tests/test_cli.py::test_info_says_what_the_kernels_target_has_as_numba_compiles_them",),
    ),
    Mutant(
        "threads-take-turns",
        ((E, "    workers = min(threads, len(units))\n", "    workers = 1\n"),),
        ("tests/test_sweep.py::test_threads_train_chunks_at_once",),
    ),
    Mutant(
        "decision-surface-inverted",
        (("fastbackprop/plot.py", "    z = net.predict(np.column_stack", "    z = 1 - net.predict(np.column_stack"),),
        ("tests/test_plot.py::test_decision_surface", "tests/test_plot.py::test_train_summary"),
    ),
    Mutant(
        "lock-file-removed-unnoticed",
        ((W, "        self._lock.check()\n", ""),),
        ("tests/test_store.py::test_a_writer_whose_lock_file_is_removed_stops_before_its_next_chunk",),
    ),
    Mutant(
        "grid-merge-keeps-a-seed-of-two-parts-twice",
        (("fastbackprop/merge.py", "    keep = part_of == part_of[run_start]\n", "    keep = part_of >= 0\n"),),
        ("tests/test_merge.py::test_a_seed_in_two_grid_parts_is_kept_once_if_identical_and_refused_otherwise",),
    ),
    Mutant(
        "grid-merge-believes-a-seed-of-other-results",
        (("fastbackprop/merge.py", "        if differ.any():\n", "        if False:\n"),),
        ("tests/test_merge.py::test_a_seed_in_two_grid_parts_is_kept_once_if_identical_and_refused_otherwise",),
    ),
    Mutant(
        "grid-merge-settings-in-part-order",
        (
            (
                "fastbackprop/merge.py",
                "    fields |= {k: rows[k][keep] if k in rows else v for k, v in per_seed.items()}",
                "    fields |= {k: v[keep] if isinstance(v, np.ndarray) else v for k, v in per_seed.items()}",
            ),
        ),
        ("tests/test_merge.py::test_per_seed_settings_that_differ_between_grid_parts_become_one_value_per_seed",),
    ),
    Mutant(
        "grid-store-read-seed-major",
        (
            (
                "fastbackprop/results.py",
                "np.ascontiguousarray(rows.reshape(L * M, S, E).transpose(0, 2, 1)).reshape(*axes, E, S)",
                "rows.reshape(*axes, E, S)",
            ),
        ),
        ("tests/test_grid.py::test_a_grid_reads_back_from_its_file_and_its_store_bit_for_bit",),
    ),
    Mutant(
        "grid-file-loss-shape-believed",
        (("fastbackprop/results.py", "        and loss.shape == (*cells, E, S)\n", ""),),
        ("tests/test_grid.py::test_an_edited_grid_file_is_refused",),
    ),
    Mutant(
        "grid-store-rows-believed",
        (
            (
                "fastbackprop/results.py",
                "np.array_equal(inputs[name], v) for name, v in per_cell.items())",
                "True for name, v in per_cell.items())",
            ),
        ),
        ("tests/test_grid.py::test_a_grid_store_whose_rows_are_not_its_cells_is_damaged",),
    ),
    Mutant(
        "grid-manifest-cells-believed",
        ((W, "        and grid_cells()\n", ""),),
        ("tests/test_grid.py::test_a_grid_store_with_an_edited_cell_list_is_damaged",),
    ),
)


def _copy_tree(dst):
    files = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout.split()
    for f in files:
        if os.path.isfile(os.path.join(ROOT, f)):
            os.makedirs(os.path.join(dst, os.path.dirname(f)), exist_ok=True)
            shutil.copy2(os.path.join(ROOT, f), os.path.join(dst, f))


def _run_tests(tree, tests, nojit):
    env = dict(os.environ, PYTHONPATH=tree, NUMBA_CACHE_DIR=os.path.join(tree, ".numba-cache"))
    env.pop("NUMBA_DISABLE_JIT", None)
    if nojit:
        env["NUMBA_DISABLE_JIT"] = "1"
    args = [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        "-o",
        "addopts=",
        "-W",
        "ignore::RuntimeWarning",
        *tests,
    ]
    res = subprocess.run(args, cwd=tree, env=env, capture_output=True, text=True)
    failed = re.findall(r"^(?:FAILED|ERROR) (\S+)", res.stdout, re.M)
    return res.returncode, failed, res.stdout[-2000:]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("names", nargs="*")
    ap.add_argument("--full", action="store_true", help="run the whole suite against each mutant")
    ap.add_argument("--nojit", action="store_true", help="run with NUMBA_DISABLE_JIT=1")
    args = ap.parse_args()
    chosen = [m for m in MUTANTS if not args.names or m.name in args.names]
    survivors = 0
    with tempfile.TemporaryDirectory() as tmp:
        base = os.path.join(tmp, "base")
        _copy_tree(base)
        killers = sorted({t for m in chosen for t in m.killers})
        rc, failed, out = _run_tests(base, ["tests"] if args.full else killers, args.nojit)
        if rc != 0:
            print(f"the unmutated copy fails: {failed}\n{out}")
            return 1
        for m in chosen:
            tree = os.path.join(tmp, m.name)
            shutil.copytree(base, tree)
            for path, old, new, *count in m.edits:
                with open(os.path.join(tree, path)) as f:
                    text = f.read()
                want = count[0] if count else 1
                found = text.count(old)
                assert found == want, f"{m.name}: {old!r} occurs {found} times in {path}, not {want}"
                with open(os.path.join(tree, path), "w") as f:
                    f.write(text.replace(old, new))
            rc, failed, out = _run_tests(tree, ["tests"] if args.full else list(m.killers), args.nojit)
            if rc == 0:
                survivors += 1
                print(f"SURVIVED {m.name}")
            else:
                print(f"KILLED   {m.name}: {', '.join(failed) or out.splitlines()[-1]}")
            shutil.rmtree(tree)
    return 1 if survivors else 0


if __name__ == "__main__":
    sys.exit(main())
