import numba
import numpy as np
import pytest

from fastbackprop import datasets

#: Datasets every kernel is checked on.
DATASETS = {"gender": datasets.gender, "xor": datasets.xor}


@pytest.fixture(params=sorted(DATASETS))
def dataset(request):
    return DATASETS[request.param]()


@pytest.fixture
def rng():
    return np.random.default_rng(20261126)


#: Under NUMBA_DISABLE_JIT=1 (the coverage run) kernels are plain Python, about
#: 10^4 times slower: tests that train many networks shrink their epochs.
JIT = not numba.config.DISABLE_JIT
SWEEP_EPOCHS = 3000 if JIT else 3

#: Tests the coverage pass (NUMBA_DISABLE_JIT=1) skips: each takes seconds as
#: pure Python, and every line it runs is also run by the tests the pass keeps.
#: The JIT pass runs them all. Chosen from a coverage pass with
#: ``--cov-context=test --durations=0``: the slowest first, each dropped only
#: while the kept tests still cover all its lines (no line lost). Tests that
#: start processes are kept: the lines those run carry no test's context.
#: A test that adds lines later is caught by ``--cov-fail-under``.
COVERED_BY_FASTER_TESTS = frozenset(
    {
        "test_adversarial.py::test_cli_bad_numbers_are_one_line_exit_2",
        "test_adversarial.py::test_extreme_input_magnitudes",
        "test_adversarial.py::test_long_runs_are_sliced_without_changing_a_bit",
        "test_adversarial.py::test_unusual_but_real_dtypes_give_the_float64_result",
        "test_cli.py::test_data_file_with_and_without_header",
        "test_cli.py::test_diverged_seeds_are_reported",
        "test_cli.py::test_grid_margin",
        "test_cli.py::test_grid_momentum_cells",
        "test_cli.py::test_sweep_and_grid_in_process",
        "test_cli.py::test_sweep_training_flags_reach_the_api",
        "test_concurrency.py::test_train_and_sweep_from_four_threads_equal_serial",
        "test_distributed.py::test_cluster_grid_and_store",
        "test_distributed.py::test_cluster_maps_are_bit_identical",
        "test_distributed.py::test_cluster_sweep_is_bit_identical",
        "test_epochs_to_tol.py::test_untracked_sweeps_are_the_tracked_sweeps_without_epochs_to_tol",
        "test_grid.py::test_cells_equal_separate_sweeps_bit_for_bit",
        "test_grid.py::test_statistics_table_and_cells",
        "test_install.py::test_read_only_install_imports_and_runs",
        "test_kernels.py::test_gradient_vs_finite_differences_saturated",
        "test_kernels.py::test_history_is_the_mse_after_each_epoch",
        "test_kernels.py::test_train_matches_reference_full_run",
        "test_cuda.py::test_gpu_session_script_selects_every_gpu_test",  # its process only collects tests
        "test_maps.py::test_a_zero_meant_is_a_zero_and_signed_zeros_are_different_starts",
        "test_maps.py::test_every_init_map_pixel_is_a_network_bit_for_bit",
        "test_merge.py::test_a_partial_store_covered_by_another_part_merges_complete",
        "test_merge.py::test_a_three_part_merge_equals_the_whole_sweep",
        "test_network.py::test_accepted_input_forms",
        "test_network.py::test_classic_experiment_converges",
        "test_network.py::test_gender_is_learned_from_any_seed",
        "test_network.py::test_train_matches_reference",
        "test_options.py::test_a_per_network_sweep_equals_the_scalar_sweeps_of_its_groups",
        "test_options.py::test_grid_momentum_axis_cells_equal_separate_sweeps",
        "test_options.py::test_merging_parts_of_different_learning_rates_keeps_one_per_row",
        "test_options.py::test_options_spelled_at_their_defaults_change_no_bit",
        "test_options.py::test_results_keep_every_setting_through_files_and_stores",
        "test_options.py::test_rows_are_bit_identical_to_network_over_a_random_matrix_of_options",
        "test_options.py::test_zero_momentum_lanes_beside_momentum_lanes_follow_plain_sgd_bit_for_bit",
        "test_plot.py::test_decision_surface",
        "test_plot.py::test_grid_heatmap",
        "test_plot.py::test_loss_curve",
        "test_plot.py::test_sweep_summary",
        "test_plot.py::test_train_summary",
        "test_properties.py::test_property_sweep_rows_equal_single_networks",
        "test_registry.py::test_implementation_matches_reference",
        "test_store.py::test_a_chunk_from_another_store_is_recomputed",
        "test_store.py::test_a_hostile_header_is_a_damaged_chunk_not_an_allocation",
        "test_store.py::test_a_second_writer_is_refused_naming_the_holder",
        "test_store.py::test_an_edited_manifest_is_refused_by_readers",
        "test_store.py::test_damage_to_any_stored_array_is_caught",
        "test_store.py::test_every_file_is_synced_before_it_is_renamed_into_place",
        "test_store.py::test_grid_store_is_one_sweep_store_of_every_cell",
        "test_store.py::test_grid_store_with_other_lengths_names_epochs_list",
        "test_store.py::test_load_an_empty_store",
        "test_store.py::test_other_settings_are_refused",
        "test_store.py::test_resume_and_load_hold_each_result_once",
        "test_store.py::test_store_round_trip_and_resume_computes_nothing",
        "test_sweep.py::test_a_resumed_sweep_reports_the_speed_of_what_it_trained",
        "test_sweep.py::test_any_chunking_gives_the_same_bits",
        "test_sweep.py::test_any_thread_count_gives_the_same_bits",
        "test_sweep.py::test_blow_up_is_flagged_diverged_without_warnings",
        "test_sweep.py::test_float32_matches_float32_reference_and_is_computed_in_float32",
        "test_sweep.py::test_float64_rows_are_bit_identical_to_network_train",
        "test_sweep.py::test_matches_vectorised_numpy_reference",
        "test_sweep.py::test_more_threads_than_cores_is_fine",
        "test_sweep.py::test_permuted_seeds_give_permuted_rows",
        "test_sweep.py::test_reports_are_strict_json_with_none_for_what_does_not_exist",
        "test_sweep.py::test_result_statistics_and_summary",
        "test_sweep.py::test_seed_forms",
        "test_sweep.py::test_threads_leave_no_global_state_also_on_error",
        "test_sweep.py::test_xor_gets_stuck_sometimes_and_flags_are_consistent",
    }
)


def pytest_collection_modifyitems(config, items):
    if JIT:
        return
    skip = pytest.mark.skip(reason="slow as pure Python; faster tests cover its lines (the JIT pass runs it)")
    for item in items:
        if f"{item.path.name}::{item.originalname}" in COVERED_BY_FASTER_TESTS:
            item.add_marker(skip)


#: The starting parameters of a few seeds, written down once (2026-11-27) as
#: exact hex floats (``float.hex``): "a seed means the same numbers on every
#: machine" is then checked against literals, not against a twin that shares
#: the constants.
PINNED_STARTS = {
    0: (
        "0x1.c4f6c99e38225p+0",
        "0x1.24800066eab4cp+0",
        "-0x1.6017bd4f4ae05p-1",
        "0x1.1f634f5ed6ec7p-1",
        "-0x1.6165831eba403p-1",
        "-0x1.47af10615269ap-2",
        "0x1.bbda2f829377cp-8",
        "-0x1.0f72619ef7ee5p+1",
        "-0x1.26e0bf6ff6120p+0",
    ),
    1: (
        "0x1.4ff0ea5e58f38p+0",
        "-0x1.32fa187d1d818p+0",
        "-0x1.d814df5833864p-1",
        "-0x1.f7714352c2b4fp-3",
        "-0x1.1469c0a36e380p+1",
        "-0x1.82183bfbd70f7p-3",
        "0x1.83268f2e34966p-2",
        "0x1.4c2062b862541p-1",
        "0x1.c16650e7d4740p-2",
    ),
    2: (
        "0x1.d6fbf1c0739dap-1",
        "0x1.8b99091219d90p-2",
        "0x1.39d8c0470592dp-4",
        "-0x1.4b42380854ce3p-3",
        "0x1.1aeadab407337p-1",
        "-0x1.60c4cd4b4723cp-1",
        "0x1.324c12297551fp+1",
        "0x1.b05fe09088c9ap-2",
        "0x1.928d8ec57d327p+0",
    ),
    123456789: (
        "-0x1.4801e5b3f88f0p-3",
        "0x1.2f5d4f8d63612p-2",
        "0x1.0c6fdb5fc22edp-1",
        "-0x1.1c5218787dd9bp+0",
        "0x1.09238e440a052p+0",
        "-0x1.b36ed496d4d23p-3",
        "0x1.df485846af27cp+0",
        "0x1.03749f296b69fp-1",
        "0x1.e6883d968f1fcp-6",
    ),
    2**32: (
        "0x1.11aaf193a712ep-1",
        "0x1.30eb88b875941p+0",
        "-0x1.180a429e09137p-1",
        "0x1.29e0d603bd6dep+1",
        "-0x1.92a59fb254c99p+0",
        "0x1.dc37001daff35p-1",
        "-0x1.89c4d6bab8ec4p-1",
        "0x1.129f1f009fe98p+0",
        "-0x1.b66ebb2b9b024p+0",
    ),
    2**53 + 1: (
        "-0x1.93e36135aabf2p-1",
        "0x1.bc432d85d50cdp-2",
        "0x1.410c783e719bcp+0",
        "-0x1.435b9f8cffa42p-4",
        "-0x1.e923b29a63de5p+0",
        "0x1.03780570b6aeap-1",
        "0x1.5c8d7c21f22a2p+0",
        "0x1.046dd37a6d2f2p-1",
        "0x1.b2918eeae8670p-4",
    ),
    2**63 - 1: (
        "-0x1.966ccea5db28fp-1",
        "0x1.808fb330f6475p-1",
        "0x1.f5c3a5e98df04p-2",
        "0x1.29cfff6252d3ep-2",
        "0x1.691d7935a80a3p-2",
        "-0x1.1dd404279fd79p-2",
        "0x1.5f04af0017e68p-5",
        "0x1.9c5709b175d0fp-1",
        "-0x1.4f31d2287c0b4p-1",
    ),
}
