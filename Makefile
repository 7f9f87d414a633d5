# deepc — build and test.
#   make            build ./deepc
#   make test       build and run every test; ends with "N passed, N failed"
#   (tests/tool_*.c build helper programs that Python reference tests drive)
#   make bench      build the benchmarks in bench/
#   make CUDA=1     also build the CUDA kernels in src/cuda (needs nvcc)
#   make DEBUG=1    -O0 -g with address and undefined-behaviour sanitizers
#   make MPI=1      ./deepc-mpi: data parallel over MPI (mpicc, objects in build/mpi;
#                   run with mpirun -np N ./deepc-mpi pretrain ...); `make deepc-mpi` does the
#                   same, and `make test` builds it too when mpicc is installed (tests/test_mpi.c)
CC      ?= gcc
OPT     ?= -O3 -march=native
ifeq ($(DEBUG),1)
OPT     := -O0 -g -fsanitize=address,undefined -fno-omit-frame-pointer
endif
CFLAGS  += -std=c17 $(OPT) -fopenmp -Wall -Wextra -D_GNU_SOURCE -Isrc -MMD -MP
LDFLAGS += -fopenmp $(if $(filter 1,$(DEBUG)),-fsanitize=address$(comma)undefined)
LDLIBS  += -lopenblas -lcjson -lpcre2-8 -lutf8proc -lzstd -lxxhash -lmicrohttpd -lm -lpthread
comma   := ,
BUILD   := build
BIN     := deepc
ifeq ($(MPI),1)
BUILD   := build/mpi
BIN     := deepc-mpi
endif

SRC      := $(shell find src -name '*.c' ! -name main.c ! -path 'src/cuda/*' | sort)
OBJ      := $(SRC:%.c=$(BUILD)/%.o)
LIB      := $(BUILD)/libdeepc.a
TEST_SRC := $(wildcard tests/test_*.c)
TEST_BIN := $(TEST_SRC:%.c=$(BUILD)/%)
TOOL_SRC := $(wildcard tests/tool_*.c)
TOOL_BIN := $(TOOL_SRC:%.c=$(BUILD)/%)
BENCH_SRC:= $(wildcard bench/*.c)
BENCH_BIN:= $(BENCH_SRC:%.c=$(BUILD)/%)

ifeq ($(MPI),1)
CC       := mpicc
CFLAGS   += -DDEEPC_MPI
endif

ifeq ($(CUDA),1)
NVCC     ?= nvcc
CU_SRC   := $(wildcard src/cuda/*.cu)
CU_OBJ   := $(CU_SRC:%.cu=$(BUILD)/%.o)
CFLAGS   += -DDEEPC_CUDA
LDLIBS   += -lcudart -lcublas -lstdc++
endif

.PHONY: all test bench clean
all: $(BIN)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/%.o: %.cu
	@mkdir -p $(dir $@)
	$(NVCC) -O3 -Isrc -c $< -o $@

$(LIB): $(OBJ) $(CU_OBJ)
	@rm -f $@
	ar rcs $@ $^

deepc: $(BUILD)/src/main.o $(LIB)
	$(CC) $(LDFLAGS) $^ -o $@ $(LDLIBS)

# MPI build: its own objects in build/mpi, so it never disturbs the plain build
ifeq ($(MPI),1)
deepc-mpi: $(BUILD)/src/main.o $(LIB)
	$(CC) $(LDFLAGS) $^ -o $@ $(LDLIBS)
else
MPICC_FOUND := $(shell command -v mpicc 2>/dev/null)
.PHONY: deepc-mpi
deepc-mpi:
	+@$(MAKE) --no-print-directory MPI=1 deepc-mpi
test: $(if $(MPICC_FOUND),deepc-mpi)
endif

$(BUILD)/tests/%: tests/%.c $(LIB) tests/test.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $< $(LIB) -o $@ $(LDFLAGS) $(LDLIBS)

$(BUILD)/bench/%: bench/%.c $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $< $(LIB) -o $@ $(LDFLAGS) $(LDLIBS)

test: deepc $(TEST_BIN) $(TOOL_BIN)
	@bash tests/run.sh

bench: deepc $(BENCH_BIN)

clean:
	rm -rf $(BUILD) deepc deepc-mpi

-include $(OBJ:.o=.d) $(BUILD)/src/main.d
