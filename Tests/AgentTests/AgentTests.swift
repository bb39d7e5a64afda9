// Tests of the Agent module (Tests/<Module>Tests mirrors Sources/<Module>).
