# The fuzz targets' LLVMFuzzerTestOneInput sources, built by any compiler with a small main
# (replay_main.cpp) and registered with CTest as fuzz_replay_<target>: each feeds every file of
# fuzz/corpus/<target>/ and fuzz/regressions/<target>/ to its target, so a fixed crash stays
# fixed under the ordinary build. Included unconditionally from the top-level CMakeLists.txt;
# fuzz/CMakeLists.txt (CLEAVE_FUZZ=ON) builds the same sources against libFuzzer.

# Target name -> the libraries its decoder lives in.
set(CLEAVE_FUZZ_TARGETS onnx_model npy topology_toml agent_toml bandwidth_trace control_message data_message key_file)
set(CLEAVE_FUZZ_LIBS_onnx_model cleave_runtime)
set(CLEAVE_FUZZ_LIBS_npy cleave_runtime)
set(CLEAVE_FUZZ_LIBS_topology_toml cleave_config)
set(CLEAVE_FUZZ_LIBS_agent_toml cleave_config)
set(CLEAVE_FUZZ_LIBS_bandwidth_trace cleave_config)
set(CLEAVE_FUZZ_LIBS_control_message cleave_agent cleave_daemon)
set(CLEAVE_FUZZ_LIBS_data_message cleave_proto)
set(CLEAVE_FUZZ_LIBS_key_file cleave_proto)

foreach(target ${CLEAVE_FUZZ_TARGETS})
  add_executable(fuzz_replay_${target} ${PROJECT_SOURCE_DIR}/fuzz/${target}_fuzz.cpp ${PROJECT_SOURCE_DIR}/fuzz/replay_main.cpp)
  target_link_libraries(fuzz_replay_${target} PRIVATE ${CLEAVE_FUZZ_LIBS_${target}})
  add_test(NAME fuzz_replay_${target}
           COMMAND fuzz_replay_${target} ${PROJECT_SOURCE_DIR}/fuzz/corpus/${target} ${PROJECT_SOURCE_DIR}/fuzz/regressions/${target})
  set_tests_properties(fuzz_replay_${target} PROPERTIES TIMEOUT 30)
endforeach()

# Writes the Cap'n Proto seeds (control and data messages) with the real encoders; run by hand
# when the schemas change: fuzz_seed_generator fuzz/corpus
add_executable(fuzz_seed_generator ${PROJECT_SOURCE_DIR}/fuzz/seed_generator.cpp)
target_link_libraries(fuzz_seed_generator PRIVATE cleave_agent)
